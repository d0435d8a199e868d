"""Semi-supervised and conditional models as users meet them: label files, classification, analogies.

The models are Kingma et al. (2014)'s deep generative models in the composed design -- M2
(``ModelConfig(conditioning="semi_supervised")``), M1+M2 (:class:`~vaekit.model.StackedVAE`) and the
conditional VAE of Sohn et al. (2015) (``conditioning="conditional"``). This module is the layer above
them:

* :func:`read_label_file` (from :mod:`vaekit.data.labels`) -- labels for a data source from a CSV (one
  label per example in order, or ``id,label`` pairs) or a ``.npy`` array, with -1 for "unknown";
* :func:`apply_labels` -- the user's choice of labels (a file, a fraction or a number per class kept);
* :func:`classify` / :func:`write_predictions` -- q(y|x) for every example as a table (label,
  probability per class) and :func:`accuracy` against known labels;
* :func:`analogies` / :func:`analogy_picture` -- the style-transfer figure of Kingma et al. (2014,
  fig. 1): keep z from an image, change y;
* :func:`label_index` / :func:`parse_labels` -- class indices from what a user types (``7``, ``cat``,
  ``0-9``, ``1,3,5``).

Examples
--------
>>> import torch, vaekit
>>> from vaekit.tasks.semisupervised import apply_labels, classify
>>> data = vaekit.datasets.load("digits").subset(range(300))
>>> semi = apply_labels(data, labelled_per_class=5, seed=0)
>>> semi.n_labelled
50
>>> model = vaekit.VAE.for_data(semi, conditioning="semi_supervised", num_classes=10, hidden_dims=(32,))
>>> _ = vaekit.fit(model, semi, epochs=1, batch_size=256, seed=0, progress=False)
>>> list(classify(model, data.subset(range(3))).columns[:4])
['id', 'label', 'label_name', 'p_0']
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import io as vio
from .._validation import Interval, check_param
from ..data import Dataset
from ..data.labels import LABEL_FILE_SUFFIXES, Classes, label_text, read_label_file
from ..errors import ConfigError, DataError

__all__ = [
    "LABEL_FILE_SUFFIXES",
    "LABELS_RECORD",
    "read_label_file",
    "apply_labels",
    "num_classes_of",
    "class_names",
    "check_conditional",
    "label_index",
    "parse_labels",
    "check_classifier",
    "classify",
    "accuracy",
    "write_predictions",
    "check_predictions_path",
    "analogies",
    "analogy_picture",
    "write_label_record",
    "read_label_record",
    "label_effect",
    "label_warning",
    "LABEL_EFFECT_MIN",
    "STACK_RECIPE",
]

#: Below this share of the spread of conditional samples explained by the label, the decoder is taken to
#: ignore y (samples for different labels barely differ): see :func:`label_effect`.
LABEL_EFFECT_MIN = 0.05

#: Training recipe of M2 over M1's codes (:class:`~vaekit.model.StackedVAE`; ``vaekit train --stack-on``, and
#: ``--semi-supervised`` on grey images): the settings of bench/semisupervised.py's M1+M2, 3.90% mean test
#: error on MNIST with 100 labels (bench/RESULTS.md). No binarisation: M2 models M1's posterior means.
STACK_RECIPE = dict(epochs=30, batch_size=256, lr=1e-3, lr_schedule="cosine", val_fraction=0.0)

#: A run trained on partly labelled data records how its labels were chosen here (for ``--resume``).
LABELS_RECORD = "labels.json"


# ================================================================================================ classes
def class_names(spec_or_model: Any, num_classes: int | None = None) -> tuple[str, ...]:
    """The class names of a data spec, Dataset or model (``()`` when unknown or not one per class).

    Examples
    --------
    >>> import vaekit
    >>> class_names(vaekit.datasets.load("digits"))[:3]
    ('0', '1', '2')
    """
    spec = getattr(spec_or_model, "data_spec", None) or getattr(spec_or_model, "spec", None) or spec_or_model
    names = tuple(getattr(spec, "label_names", ()) or ())
    if num_classes is None:
        num_classes = getattr(spec_or_model, "num_classes", None) or len(names)
    return names if len(names) == num_classes else ()


def num_classes_of(data: Dataset) -> int:
    """Number of classes of ``data``'s labels: its class names, or the largest known label + 1.

    Examples
    --------
    >>> import torch
    >>> from vaekit.config import DataSpec
    >>> num_classes_of(Dataset(torch.zeros(3, 2), torch.tensor([0, -1, 4]), DataSpec(kind="array", shape=(2,))))
    5
    """
    known = data.y[data.y >= 0] if data.y is not None else torch.zeros(0, dtype=torch.int64)
    if data.y is None or not len(known):
        raise DataError(
            f"Data '{data.name}' has no labels, so the number of classes is unknown; give labels with "
            f"--labels FILE (a labelled folder, a table's --label-column or an .npz with y work too).")
    return max(len(data.spec.label_names), int(known.max()) + 1)


# ================================================================================================ the user's choice
def apply_labels(
    data: Dataset,
    *,
    labels: str | os.PathLike | Sequence[int] | np.ndarray | torch.Tensor | None = None,
    label_fraction: float | None = None,
    labelled_per_class: int | None = None,
    seed: int = 0,
    num_classes: int | None = None,
) -> Dataset:
    """``data`` with the labels the user chose: from a file, and/or a seeded subset of them kept.

    Parameters
    ----------
    data : Dataset
    labels : path, array-like of int, or None
        A label file (see :func:`read_label_file`) or one label per example (-1 = unknown); these
        replace the data's own labels.
    label_fraction : float in (0, 1] or None
        Keep this fraction of the labels (at least one per class), hide the rest.
    labelled_per_class : int or None
        Keep this many labels of every class, hide the rest (Kingma et al. 2014: 10 per class on MNIST).
    seed : int
        Which labels are kept.
    num_classes : int or None
        Reject labels >= this (default: the data's number of class names, when known).

    Returns
    -------
    Dataset
        A copy with ``y`` set (-1 where unknown).

    Raises
    ------
    ConfigError
        Both ``label_fraction`` and ``labelled_per_class``, or a value out of range.
    DataError
        Bad label file; labels to hide but none given; too few examples of a class.

    Examples
    --------
    >>> import vaekit
    >>> apply_labels(vaekit.datasets.load("digits"), labelled_per_class=3, seed=0).n_labelled
    30
    """
    check_param("apply_labels", "label_fraction", label_fraction,
                Interval("float", 0, 1, closed="right", optional=True))
    check_param("apply_labels", "labelled_per_class", labelled_per_class, Interval("int", 1, None, optional=True))
    check_param("apply_labels", "seed", seed, Interval("int", 0, None))
    if label_fraction is not None and labelled_per_class is not None:
        raise ConfigError("Give one of label_fraction (--label-fraction) and labelled_per_class "
                          "(--labelled-per-class), not both: each says how many labels to keep.")
    if labels is not None:
        if isinstance(labels, (str, os.PathLike)):
            y = read_label_file(labels, data, num_classes=num_classes)
        else:
            y = _labels_from_array(labels, data, num_classes)
        data = replace(data, y=y)
    if label_fraction is None and labelled_per_class is None:
        return data
    if data.y is None or data.n_labelled == 0:
        flag = "--label-fraction" if label_fraction is not None else "--labelled-per-class"
        raise DataError(f"{flag} keeps some of the data's labels and hides the rest, but data '{data.name}' has no "
                        f"labels; give them with --labels FILE (or a labelled folder, table or .npz).")
    return data.hide_labels(per_class=labelled_per_class, fraction=label_fraction, seed=seed)


def _labels_from_array(values, data: Dataset, num_classes: int | None) -> torch.Tensor:
    a = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if a.shape != (len(data),):
        raise DataError(f"labels has shape {a.shape}, but data '{data.name}' has {len(data):,} examples: "
                        f"expected ({len(data)},).")
    classes = Classes(data.spec.label_names, num_classes if num_classes is not None
                       else (len(data.spec.label_names) or None))
    out = np.empty(len(a), dtype=np.int64)
    for i, v in enumerate(a.tolist()):
        try:
            out[i] = classes.index(label_text(v), allow_unknown=True)
        except ValueError as e:
            raise DataError(f"labels[{i}]: {e}.") from e
    return torch.from_numpy(out)


def write_label_record(run: str | os.PathLike, record: dict) -> Path:
    """Write how a run's labels were chosen to ``RUN/labels.json`` (atomically), for ``--resume``."""
    path = Path(run) / LABELS_RECORD
    vio.write_json(path, record)
    return path


def read_label_record(run: str | os.PathLike) -> dict | None:
    """``RUN/labels.json`` as written by :func:`write_label_record`, or None when the run has none."""
    path = Path(run) / LABELS_RECORD
    if not path.is_file():
        return None
    try:
        doc = vio.read_json(path)
    except (ValueError, OSError) as e:
        raise DataError(f"'{path}' could not be read ({e}); pass the label options (--labels, "
                        f"--labelled-per-class, ...) again, or delete the file.") from e
    return doc if isinstance(doc, dict) else None


# ================================================================================================ user-typed labels
def _names_of(model) -> tuple[str, ...]:
    return class_names(model, model.num_classes)


def check_conditional(model, what: str = "This task") -> None:
    """Raise :class:`~vaekit.errors.ConfigError` (with how to train one) unless ``model`` is conditioned on labels."""
    if not getattr(model, "conditional", False):
        raise ConfigError(
            f"{what} needs a model conditioned on labels; this {type(model).__name__} is not (train one with "
            f"`vaekit train DATA --semi-supervised --labelled-per-class 10` or `--conditional`).")


def label_index(model, label: str | int) -> int:
    """The class index of ``label`` (an index, or a class name of the model's training data).

    Raises
    ------
    ConfigError
        The model is not conditioned on labels.
    DataError
        Unknown name or index out of range.

    Examples
    --------
    >>> import vaekit
    >>> m = vaekit.VAE.for_data(vaekit.datasets.load("digits"), conditioning="conditional", num_classes=10)
    >>> label_index(m, "7")
    7
    """
    check_conditional(model, "A class label")
    classes = Classes(_names_of(model), model.num_classes)
    try:
        return classes.index(str(label), allow_unknown=False)
    except ValueError as e:
        raise DataError(f"Label {e}.") from e


def parse_labels(model, text: str | Sequence[str | int] | None) -> list[int]:
    """Class indices from ``"0-9"``, ``"1,3,5"``, class names ``"cat,dog"`` or a list; None gives all.

    Examples
    --------
    >>> import vaekit
    >>> m = vaekit.VAE.for_data(vaekit.datasets.load("digits"), conditioning="conditional", num_classes=10)
    >>> parse_labels(m, "0-2,7")
    [0, 1, 2, 7]
    """
    check_conditional(model, "Choosing classes")
    if text is None:
        return list(range(model.num_classes))
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else [str(p).strip() for p in text]
    parts = [p for p in parts if p]
    if not parts:
        raise DataError(f"No labels given in {text!r}; expected e.g. '0-9', '1,3,5' or class names.")
    names = set(_names_of(model))
    out: list[int] = []
    for part in parts:
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if part not in names and m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise DataError(f"Label range {part!r} is empty; write it low-high, e.g. '0-9'.")
            out.extend(label_index(model, str(v)) for v in range(lo, hi + 1))
        else:
            out.append(label_index(model, part))
    return list(dict.fromkeys(out))


# ================================================================================================ classification
def check_classifier(model) -> None:
    """Raise :class:`~vaekit.errors.ConfigError` (with how to train one) unless ``model`` has q(y|x)."""
    if not getattr(model, "has_classifier", False):
        where = f"This {type(model).__name__}"
        raise ConfigError(
            f"{where} has no classifier q(y|x) (conditioning={model.config.conditioning!r}); train one with "
            f"`vaekit train DATA --semi-supervised --labelled-per-class 10` (or --stack-on RUN).")


@torch.inference_mode()
def classify(model, data: Dataset, *, batch_size: int = 1024):
    """q(y|x) for every example of ``data``, as a table.

    Parameters
    ----------
    model : VAE or StackedVAE
        A model with a classifier (``model.has_classifier``).
    data : Dataset
        Preprocessed like the model's training data (read batch by batch).
    batch_size : int

    Returns
    -------
    pandas.DataFrame
        One row per example: ``id`` (``data.ids``, else the row number), ``label`` (the most probable
        class index), ``label_name`` (when the classes have names), ``p_<class>`` (q(y|x) per class;
        rows sum to 1) and, when ``data`` has labels, ``true_label`` (-1 where unknown).

    Raises
    ------
    ConfigError
        The model has no classifier.

    Examples
    --------
    >>> import vaekit
    >>> data = vaekit.datasets.load("digits")
    >>> m = vaekit.VAE.for_data(data, conditioning="semi_supervised", num_classes=10, hidden_dims=(16,))
    >>> classify(m, data.subset(range(2))).shape
    (2, 14)
    """
    import pandas as pd

    check_param("classify", "batch_size", batch_size, Interval("int", 1, None))
    check_classifier(model)
    model.eval()
    parts = [model.predict_proba(xb.to(model.device)).float().cpu() for xb in data.batches(batch_size)]
    k = model.num_classes
    probs = torch.cat(parts).numpy() if parts else np.zeros((0, k), dtype=np.float32)
    names = _names_of(model)
    label = probs.argmax(1).astype(np.int64)
    columns: dict[str, Any] = {"id": list(data.ids) if data.ids is not None else np.arange(len(data)), "label": label}
    if names:
        columns["label_name"] = [names[i] for i in label]
    for j in range(k):
        columns[f"p_{names[j] if names else j}"] = probs[:, j]
    if data.y is not None:
        columns["true_label"] = data.y.numpy().astype(np.int64)
    return pd.DataFrame(columns)


def accuracy(predictions) -> float | None:
    """Fraction of the examples with a known ``true_label`` whose ``label`` matches; None without any.

    Examples
    --------
    >>> import pandas as pd
    >>> accuracy(pd.DataFrame({"label": [1, 2, 0], "true_label": [1, 0, -1]}))
    0.5
    """
    if "true_label" not in predictions.columns:
        return None
    known = predictions["true_label"].to_numpy() >= 0
    if not known.any():
        return None
    return float((predictions["label"].to_numpy()[known] == predictions["true_label"].to_numpy()[known]).mean())


def write_predictions(predictions, path: str | os.PathLike) -> Path:
    """Write a :func:`classify` table to ``.csv`` or ``.parquet``, atomically; return the path.

    Raises
    ------
    ConfigError
        Another suffix.
    """
    path = check_predictions_path(path)
    if path.suffix.lower() == ".csv":
        with vio.atomic_write(path, "w") as f:
            predictions.to_csv(f, index=False, float_format="%.6g")
    else:
        with vio.atomic_write(path, "wb") as f:
            predictions.to_parquet(f, index=False)
    return path


def check_predictions_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it ends in ``.csv`` or ``.parquet``, else :class:`~vaekit.errors.ConfigError`."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ConfigError(f"The output path of predictions must end in .csv or .parquet. Got '{path}' instead.")
    return path


# ================================================================================================ analogies
@torch.inference_mode()
def analogies(model, x_style: torch.Tensor, labels: Sequence[int] | torch.Tensor, *,
              y_style: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
    """Keep each style image's z, change its class: decoder means for every (image, label) pair.

    Kingma et al. (2014, fig. 1): z = E[z | x, y] is the posterior mean of the style image under its
    own class y (given in ``y_style``, else predicted by q(y|x) for a semi-supervised model); then
    p(x | z, y') is decoded for each requested class y'.

    Parameters
    ----------
    model : VAE or StackedVAE
        Conditioned on labels (``model.conditional``).
    x_style : Tensor of shape (n_style, *data_shape), or data_shape for one image
    labels : sequence of int
        Classes to decode with.
    y_style : sequence of int or None
        The class of each style image; needed by a conditional VAE (which has no classifier).

    Returns
    -------
    Tensor of shape (n_style, n_labels, *data_shape)

    Raises
    ------
    ConfigError
        The model is not conditioned on labels.
    DataError
        A CVAE without ``y_style``; labels out of range; wrong number of style labels.

    Examples
    --------
    >>> import torch, vaekit
    >>> m = vaekit.VAE.for_data(vaekit.datasets.load("digits"), conditioning="semi_supervised", num_classes=10)
    >>> analogies(m, torch.rand(2, 1, 8, 8), [0, 1, 2]).shape
    torch.Size([2, 3, 1, 8, 8])
    """
    check_conditional(model, "Analogies")
    x = x_style if x_style.dim() > len(model.data_shape) else x_style[None]
    n = x.shape[0]
    y_out = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    if not len(y_out):
        raise DataError("Analogies need at least one label to decode with; got none.")
    bad = [int(v) for v in y_out if not 0 <= int(v) < model.num_classes]
    if bad:
        raise DataError(f"Label {bad[0]} is out of range: this model has {model.num_classes} classes, so labels "
                        f"must be in 0..{model.num_classes - 1}.")
    if y_style is None and not model.has_classifier:
        raise DataError("A conditional VAE (CVAE) has no classifier to tell the class of a style image: give the "
                        "class of each one (y_style; --style-label on the command line).")
    if y_style is not None:
        y_style = torch.as_tensor(y_style, dtype=torch.int64).reshape(-1)
        if y_style.shape != (n,):
            raise DataError(f"Got {len(y_style)} style labels for {n} style images; give one per image.")
        y_style = y_style.to(model.device)
    model.eval()
    z = model.embed(x.to(model.device), y_style)  # (n_style, latent_dim)
    k = len(y_out)
    zz = z.repeat_interleave(k, dim=0)  # (n_style * k, latent_dim)
    yy = y_out.to(model.device).repeat(n)  # (n_style * k,)
    out = model.decode(zz, yy).mean.cpu()  # (n_style * k, *data_shape)
    return out.reshape(n, k, *model.data_shape)


def analogy_picture(model, x_style: torch.Tensor, labels: Sequence[int], *,
                    y_style: Sequence[int] | None = None, row_labels: Sequence[str] | None = None):
    """The analogy figure: one row per style image -- the image, then it decoded as each class.

    Image data gives a Pillow image with the class names above the columns; vectors and tables give
    stacked heat maps.

    Parameters
    ----------
    model, x_style, labels, y_style
        As for :func:`analogies`.
    row_labels : sequence of str or None
        A caption per style image (default ``#i``); its class (given or predicted) is added.

    Returns
    -------
    PIL.Image.Image or matplotlib.figure.Figure
    """
    from . import visualize

    x = x_style if x_style.dim() > len(model.data_shape) else x_style[None]
    out = analogies(model, x, labels, y_style=y_style)  # (n, k, *data_shape)
    names = _names_of(model)
    if y_style is not None:
        own = [int(v) for v in torch.as_tensor(y_style).reshape(-1)]
    else:
        own = [int(v) for v in model.predict(x.to(model.device)).cpu()]
    captions = []
    for i in range(len(x)):
        base = row_labels[i] if row_labels is not None else f"#{i}"
        cls = names[own[i]] if names else str(own[i])
        captions.append(f"{base} ({'class' if y_style is not None else 'seen as'} {cls})")
    headers = ["input"] + [names[int(c)] if names else str(int(c)) for c in labels]
    spec = visualize.spec_of(model)
    rows = [torch.cat([x[i : i + 1].cpu(), out[i]]) for i in range(len(x))]
    if spec.kind != "image":
        return visualize.rows_picture(rows, captions, spec,
                                      title="Analogies: each row keeps one input's z; columns: " + ", ".join(headers))
    return _with_column_header(rows, captions, headers, spec)


def _with_column_header(rows, captions, headers, spec):
    """``viz.labeled_rows`` with a line of column titles above (class names over the decoded columns)."""
    from PIL import Image, ImageDraw

    from .. import viz
    from .visualize import _scale

    scale, padding = _scale(spec), 2
    body = viz.labeled_rows(rows, captions, scale=scale, padding=padding)
    h, w = spec.shape[1], spec.shape[2]
    strip_w = (len(headers) * (w + padding) + padding) * scale
    left = body.width - strip_w
    font = viz._font(max(10, min(16, h * scale // 3)))
    probe = ImageDraw.Draw(Image.new(body.mode, (1, 1)))
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3] + 6
    canvas = Image.new(body.mode, (body.width, body.height + line_h), "white")
    canvas.paste(body, (0, line_h))
    draw = ImageDraw.Draw(canvas)
    for j, text in enumerate(headers):
        x0 = left + (padding + j * (w + padding)) * scale
        tw = probe.textbbox((0, 0), text, font=font)[2]
        draw.text((x0 + (w * scale - tw) / 2, 3), text, fill="black", font=font)
    # a rule between the inputs and their analogies
    x_rule = left + (padding + w) * scale + padding * scale // 2
    draw.line([(x_rule, line_h), (x_rule, canvas.height - 1)], fill=128 if body.mode == "L" else (128, 128, 128))
    return canvas


# ========================================================================================= label effect
@torch.inference_mode()
def label_effect(model, n: int = 64, *, seed: int = 0) -> float | None:
    """How much the label changes what a conditioned decoder generates: the share of the spread of the
    decoded means, over n prior draws z times every class y, that is between labels (the same z, another y)
    rather than between styles (the same y, another z). 0 means p(x|z,y) ignores y: ``sample --label 0``
    and ``--label 1`` give the same images. None for an unconditioned model.

    Examples
    --------
    >>> import vaekit
    >>> data = vaekit.datasets.load("digits").subset(range(200))
    >>> m = vaekit.VAE.for_data(data, conditioning="conditional", num_classes=10, hidden_dims=(16,))
    >>> 0.0 <= label_effect(m.initialize(0)) <= 1.0
    True
    """
    if not getattr(model, "conditional", False):
        return None
    g = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        z = model.prior.sample(n, generator=g).to(model.device)  # (n, latent)
        K = model.num_classes
        means = torch.stack([model.decode(z, torch.full((n,), c, dtype=torch.long, device=model.device)).mean
                             .reshape(n, -1).float() for c in range(K)])  # (K, n, D)
    finally:
        model.train(was_training)
    between_labels = means.var(0, unbiased=False).mean(0).sum()  # spread over y at a fixed z
    between_styles = means.var(1, unbiased=False).mean(0).sum()  # spread over z at a fixed y
    total = float(between_labels + between_styles)
    return 0.0 if total <= 0 else float(between_labels) / total


def label_warning(model, effect: float | None = None) -> str | None:
    """A hint when a conditioned model's decoder barely uses its label (:func:`label_effect` below
    :data:`LABEL_EFFECT_MIN`), or None."""
    effect = label_effect(model) if effect is None else effect
    if effect is None or effect >= LABEL_EFFECT_MIN:
        return None
    return (f"The decoder barely uses the label: it explains {effect:.1%} of the spread of the samples, so samples "
            f"for different labels look alike (and a semi-supervised classifier may be confidently wrong). Train "
            f"longer (--epochs), or give more labels (--labelled-per-class).")
