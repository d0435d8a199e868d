"""Denoising with a VAE: train on corrupted inputs against clean targets, denoise by reconstruction.

Training uses the denoising criterion of Im et al. (2017): :class:`vaekit.config.ModelConfig` fields
``corruption`` (``"gaussian"``, ``"salt_and_pepper"``, ``"mask"``) and ``corruption_level`` make
``VAE.objective`` encode a corrupted copy of each batch and score the clean batch, so the one
training loop :func:`vaekit.fit` trains a denoiser unchanged. Denoising a new input is then the
decoder mean at the posterior mean of the noisy input (:func:`denoise`).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .._validation import Interval, Options, check_param
from ..config import CORRUPTIONS
from ..data import Dataset
from ..errors import DataError
from .encoding import check_finite

__all__ = ["add_noise", "fit_denoiser", "denoise", "denoise_files", "DenoiseResult", "IMAGE_SUFFIXES"]

#: Image files ``vaekit denoise`` reads and writes.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def add_noise(x: Any, kind: str, level: float, *, seed: int = 0, clip: bool = True) -> np.ndarray:
    """Corrupt ``x`` as the denoising objective does (same noise model), for tests and benchmarks.

    Parameters
    ----------
    x : array-like, values in [0, 1] for images
    kind : {"gaussian", "salt_and_pepper", "mask"}
        Additive N(0, level^2) noise; a ``level`` fraction of entries set to 0 or 1 (equal odds); a
        ``level`` fraction set to 0.
    level : float
        Standard deviation or fraction.
    seed : int
    clip : bool
        Clip to [0, 1] (image data).

    Returns
    -------
    ndarray of float32, the shape of ``x``

    Examples
    --------
    >>> x = np.full((1, 10000), 0.5, dtype=np.float32)
    >>> round(float(add_noise(x, "gaussian", 0.1, seed=0).std()), 2)
    0.1
    """
    from ..model import corrupt

    check_param("add_noise", "kind", kind, Options(CORRUPTIONS))
    check_param("add_noise", "level", level, Interval("float", 0, None))
    check_param("add_noise", "seed", seed, Interval("int", 0, None))
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    return corrupt(t, kind, float(level), generator=torch.Generator().manual_seed(seed), clip=clip).numpy()


def fit_denoiser(data: Dataset, noise: str = "gaussian", level: float = 0.3, *, out: str | os.PathLike | None = None,
                 overwrite: bool = False, model_options: dict | None = None, **train_options: Any):
    """Train a VAE with the denoising criterion on clean ``data`` (the noise is drawn afresh every batch).

    Parameters
    ----------
    data : Dataset
        Clean examples.
    noise : {"gaussian", "salt_and_pepper", "mask"}
    level : float
        Noise standard deviation or fraction of entries.
    out : path or None
        Run directory to write (then ``vaekit denoise RUN ...`` uses it).
    overwrite : bool
        Replace the contents of a non-empty ``out`` (as :func:`vaekit.fit`).
    model_options : dict or None
        :class:`~vaekit.config.ModelConfig` overrides (``latent_dim``, ``hidden_dims``, ...).
    **train_options
        :class:`~vaekit.config.TrainConfig` fields (``epochs``, ``seed``, ...); the preset of
        :func:`vaekit.training.default_train_config` fills the rest.

    Returns
    -------
    VAE
        The trained model (its ``history`` attribute holds the metrics).

    Examples
    --------
    >>> import vaekit
    >>> data = vaekit.datasets.load("digits")
    >>> m = fit_denoiser(data, "gaussian", 0.3, epochs=1, progress=False, model_options={"hidden_dims": (32,)})
    >>> m.config.corruption, m.config.corruption_level
    ('gaussian', 0.3)
    """
    from ..model import VAE
    from ..training import default_train_config, fit
    from ._estimator import ESTIMATOR_PRIOR

    check_param("fit_denoiser", "noise", noise, Options(tuple(c for c in CORRUPTIONS if c != "none")))
    if not isinstance(data, Dataset):
        raise DataError(f"fit_denoiser expects a vaekit Dataset; got {type(data).__name__}. "
                        f"Use vaekit.datasets.from_array(x) first.")
    model = VAE.for_data(data, corruption=noise, corruption_level=float(level),
                         **{"prior": ESTIMATOR_PRIOR, **(model_options or {})})
    progress = train_options.pop("progress", "auto")
    # Dynamic binarisation would corrupt the clean target too; denoisers keep grey levels as targets.
    config = default_train_config(data.spec, **{"binarize": "none", **train_options})
    fit(model, data, config, out=out, overwrite=overwrite, progress=progress)
    return model


@torch.inference_mode()
def denoise(model, x: Any, *, batch_size: int = 512) -> np.ndarray:
    """Denoise ``x`` with a trained model: decoder means at the posterior means of the noisy inputs.

    Parameters
    ----------
    model : VAE
        Ideally trained with a ``corruption`` matching the noise in ``x`` (see :func:`fit_denoiser`).
    x : Tensor of shape (n, *data_shape), or raw inputs :func:`vaekit.datasets.apply_spec` accepts
        (image arrays in any layout, uint8 or [0, 1] floats; PIL images).
    batch_size : int

    Returns
    -------
    ndarray of shape (n, *data_shape), float32 (images in [0, 1], channels first)

    Examples
    --------
    >>> import vaekit
    >>> data = vaekit.datasets.load("digits")
    >>> m = fit_denoiser(data, "salt_and_pepper", 0.2, epochs=1, progress=False)
    >>> denoise(m, add_noise(data.x[:3].numpy(), "salt_and_pepper", 0.2)).shape
    (3, 1, 8, 8)
    """
    from ..data import apply_spec

    check_param("denoise", "batch_size", batch_size, Interval("int", 1, None))
    model.eval()
    if isinstance(x, torch.Tensor) and tuple(x.shape[1:]) == tuple(model.data_shape):
        xt = x.float()
    elif model.data_spec is not None:
        xt = apply_spec(x, model.data_spec, name="input")
    else:
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(-1, *model.data_shape)
    parts = [model.reconstruct(xt[i : i + batch_size].to(model.device)).cpu() for i in range(0, len(xt), batch_size)]
    out = torch.cat(parts) if parts else torch.zeros((0, *model.data_shape))
    check_finite(out.numpy(), "The denoised output")
    if model.data_spec is not None and model.data_spec.kind == "image":
        out = out.clamp(0, 1)
    return out.numpy()


@dataclass(frozen=True)
class DenoiseResult:
    """What :func:`denoise_files` wrote: the output paths and how many examples were denoised."""

    outputs: tuple[Path, ...]
    n: int


def _read_images(paths: Sequence[Path], model) -> torch.Tensor:
    from ..data import apply_spec

    spec = model.data_spec
    if spec is None or spec.kind != "image":
        raise DataError(f"Image files can be denoised only by a model trained on images; this run was trained on "
                        f"{'unknown' if spec is None else spec.kind} data. Pass a .npy/.npz array instead.")
    from ..data.images import open_image

    images = []
    for p in paths:
        try:
            with open_image(p) as im:  # refuses decompression bombs before decoding
                im.load()
                images.append(im.copy())
        except DataError:
            raise
        except Exception as e:  # Pillow raises many types (UnidentifiedImageError, OSError, ...)
            raise DataError(f"Image file '{p}' could not be read: {e}") from e
    return apply_spec(images, spec, name=str(paths[0]))


def _read_array(path: Path) -> np.ndarray:
    from ..data.arrays import check_numpy_file

    check_numpy_file(path, str(path))
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as npz:
            key = "x" if "x" in npz.files else ("x_test" if "x_test" in npz.files else None)
            if key is None:
                raise DataError(f"{path} holds arrays {', '.join(sorted(npz.files)) or '(none)'}; expected 'x' or 'x_test'.")
            return npz[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"File '{path}' could not be read: {e}. vaekit never unpickles; save plain numeric arrays.") from e


def denoise_files(model, inputs: Sequence[str | os.PathLike], output: str | os.PathLike, *,
                  batch_size: int = 512) -> DenoiseResult:
    """Denoise image files or arrays and write the results (the library side of ``vaekit denoise``).

    Parameters
    ----------
    model : VAE
    inputs : sequence of paths
        Image files (``.png``, ``.jpg``, ...), or one ``.npy`` / ``.npz`` array (key ``x`` or ``x_test``).
    output : path
        For images: a folder (created) receiving one PNG per input with the same stem, or a ``.png``
        file when there is a single input. For an array: a ``.npy`` or ``.npz`` file (key ``x``),
        shape (n, *data_shape) in [0, 1] for images.
    batch_size : int

    Returns
    -------
    DenoiseResult
    """
    from ..io import atomic_write
    from ..viz import save_image, to_uint8_images

    paths = [Path(p) for p in inputs]
    if not paths:
        raise DataError("denoise needs at least one input file.")
    for p in paths:
        if p.is_dir():
            raise DataError(f"'{p}' is a folder; denoise takes image files (e.g. '{p}/*.png') or one .npy/.npz array.")
        if not p.is_file():
            raise DataError(f"No such file: '{p}'. Expected image files or a .npy/.npz array.")
    out = Path(output)
    arrays = [p for p in paths if p.suffix.lower() in (".npy", ".npz")]
    if arrays:
        if len(paths) != 1:
            raise DataError(f"Give one .npy/.npz array or any number of image files, not a mix of {len(paths)} inputs.")
        if out.suffix.lower() not in (".npy", ".npz"):
            raise DataError(f"Denoised arrays are written to a .npy or .npz file; got '{output}'.")
        clean = denoise(model, _read_array(paths[0]), batch_size=batch_size)
        with atomic_write(out, "wb") as f:
            if out.suffix.lower() == ".npz":
                np.savez(f, x=clean)
            else:
                np.save(f, clean, allow_pickle=False)
        return DenoiseResult(outputs=(out,), n=len(clean))
    bad = [p for p in paths if p.suffix.lower() not in IMAGE_SUFFIXES]
    if bad:
        raise DataError(f"Cannot denoise '{bad[0]}': expected image files ({', '.join(IMAGE_SUFFIXES)}) or one "
                        f".npy/.npz array.")
    clean = denoise(model, _read_images(paths, model), batch_size=batch_size)
    images = to_uint8_images(clean)  # (n, H, W, C)
    from PIL import Image

    if out.suffix.lower() in IMAGE_SUFFIXES:
        if len(paths) != 1:
            raise DataError(f"{len(paths)} inputs need an output folder, not the file '{output}'.")
        targets = [out]
    else:
        out.mkdir(parents=True, exist_ok=True)
        targets = [out / f"{p.stem}.png" for p in paths]
        if len(set(targets)) != len(targets):
            raise DataError("Two inputs share a file name; denoise them into separate folders.")
    for img, target in zip(images, targets):
        save_image(Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img), target)
    return DenoiseResult(outputs=tuple(targets), n=len(images))
