"""Synthetic tables from a table run: new rows as a DataFrame, conditioned on column values, and a report.

:func:`synthesize` draws z ~ p(z), then a row x ~ p(x|z) (a categorical draw per categorical column and per
mode indicator, a Gaussian draw per numeric feature under the ``"mixed"`` likelihood) and decodes it in the
table's own units (:func:`vaekit.data.tables.decode_table`: integers rounded, values clipped to the training
range). Cells are then blanked at each column's training missing rate, so the synthetic table has the
real one's gaps. ``where={"cut": "Ideal"}`` keeps only rows with that value (rejection sampling: the
rows are drawn from the model's own conditional distribution, the other columns keep their correlation
with the condition). Everything is seeded.

:func:`synth_report` compares real and synthetic rows on one self-contained HTML page: the shape of each
column (histograms / level frequencies), pairwise correlations (Pearson on numbers, Cramer's V between
categories, correlation ratio across), and the distance of each synthetic row to its closest real row
beside the same distance for real rows left out of the comparison.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..config import DataSpec
from ..errors import ConfigError, DataError

__all__ = ["sample", "synthesize", "is_table_model", "parse_where", "write_table", "synth_report", "distance_to_closest", "SYNTH_SUFFIXES"]

SYNTH_SUFFIXES = (".csv", ".parquet")
_MAX_ROUNDS = 200  # rejection-sampling rounds before a condition is declared too rare


def _table_spec(model) -> DataSpec:
    spec = getattr(model, "data_spec", None)
    if spec is None or spec.kind != "table":
        what = "no data spec" if spec is None else f"{spec.kind} data"
        raise ConfigError(f"Synthesising a table needs a model trained on a table (.csv/.parquet or a DataFrame); "
                          f"this one was trained on {what}.")
    if getattr(model, "conditional", False):
        raise ConfigError("This run is conditioned on labels (--semi-supervised/--conditional); synthesise tables "
                          "with an unconditioned run (`vaekit train table.csv --out RUN`).")
    return spec


def is_table_model(model) -> bool:
    """Whether ``model`` was trained on a table (its samples are rows of named columns)."""
    spec = getattr(model, "data_spec", None)
    return spec is not None and spec.kind == "table"


def sample(model, n: int = 64, *, seed: int = 0, temperature: float = 1.0, where=None, y=None):
    """``n`` samples of a model: a DataFrame of synthetic rows for a table model (:func:`synthesize`),
    otherwise the decoder means as a tensor (:func:`vaekit.tasks.generate.sample`).

    ``model`` may be a run directory. ``where`` (tables) keeps rows with given column values; ``y`` (label-
    conditioned models) picks the class.
    """
    if isinstance(model, (str, os.PathLike)):
        from .runs import load_run

        model = load_run(model)
    if is_table_model(model) and not getattr(model, "conditional", False):
        return synthesize(model, n, seed=seed, where=where, temperature=temperature)
    if where is not None:
        raise ConfigError("where= conditions rows of a table; this model was not trained on a table.")
    from .generate import sample as sample_tensor

    return sample_tensor(model, n, temperature=temperature, seed=seed, y=y)


def parse_where(items: Sequence[str] | Mapping[str, Any] | None, spec: DataSpec) -> dict[str, Any]:
    """Conditions ``["cut=Ideal", "year=2005"]`` (or a mapping) checked against the spec: column -> value.

    A categorical column takes one of its levels (as text); an integer column a whole number. Unknown
    columns and levels are errors naming what is known.

    Examples
    --------
    >>> spec = DataSpec(kind="table", shape=(3,), columns=("age", "color=blue", "color=red"),
    ...                 numeric_columns=("age",), mean=(40.0,), std=(10.0,),
    ...                 categorical_columns=("color",), categories=(("blue", "red"),))
    >>> parse_where(["color=red"], spec)
    {'color': 'red'}
    """
    if not items:
        return {}
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        pairs = [(str(k), v) for k, v in items.items()]
    else:
        for item in items:
            if not isinstance(item, str) or "=" not in item:
                raise ConfigError(f"A condition must look like column=value (e.g. cut=Ideal); got {item!r}.")
            col, value = item.split("=", 1)
            pairs.append((col.strip(), value.strip()))
    known = list(spec.table_columns or (spec.numeric_columns + spec.categorical_columns))
    out: dict[str, Any] = {}
    for col, value in pairs:
        if col in spec.categorical_columns:
            levels = spec.categories[spec.categorical_columns.index(col)]
            if str(value) not in levels:
                raise DataError(f"Column '{col}' has no level {str(value)!r}; its levels are: {', '.join(levels)}.")
            out[col] = str(value)
        elif col in spec.integer_columns:
            try:
                v = float(value)
            except (TypeError, ValueError):
                v = math.nan
            if not math.isfinite(v) or v != round(v):
                raise DataError(f"Column '{col}' holds whole numbers; the condition {col}={value!r} is not one.")
            j = spec.numeric_columns.index(col)
            if spec.bounds and spec.bounds[j] and not spec.bounds[j][0] <= v <= spec.bounds[j][1]:
                lo, hi = spec.bounds[j]
                raise DataError(f"Column '{col}' ranged over {lo:g}..{hi:g} in the training data; the model "
                                f"cannot generate {col}={value}.")
            out[col] = v
        elif col in spec.numeric_columns:
            raise DataError(f"Column '{col}' is continuous, so rows with {col}={value} exactly have probability 0; "
                            f"condition on a categorical or integer column.")
        else:
            raise DataError(f"Unknown column '{col}' in the condition {col}={value}; the table's columns are: "
                            f"{', '.join(known)}.")
    return out


def _decode_rows(model, n: int, generator: torch.Generator, temperature: float) -> "Any":
    from ..data.tables import decode_table

    z = model.prior.sample(n, generator=generator, temperature=float(temperature))
    with torch.no_grad():
        p = model.decode(z)
        x = model.likelihood.sample(p, generator)
    return decode_table(x.cpu().numpy(), model.data_spec)


def _matches(frame, where: Mapping[str, Any]) -> np.ndarray:
    keep = np.ones(len(frame), dtype=bool)
    for col, value in where.items():
        keep &= (frame[col].to_numpy() == value)
    return keep


def synthesize(
    model,
    n: int,
    *,
    seed: int = 0,
    where: Sequence[str] | Mapping[str, Any] | None = None,
    missing: bool = True,
    temperature: float = 1.0,
    batch_size: int = 10_000,
):
    """``n`` synthetic rows of the table a model was trained on, as a DataFrame in the table's column order.

    Parameters
    ----------
    model : VAE
        Trained on a table (``vaekit.train`` / ``vaekit train table.csv``); see :func:`vaekit.load`.
    n : int
        Rows to generate.
    seed : int
        Same seed, same rows (on the same machine).
    where : sequence of "column=value" or mapping, optional
        Keep only rows with these values (categorical levels or whole numbers of integer columns).
    missing : bool
        Blank cells at each column's missing rate in the training data (conditioned columns never).
    temperature : float
        Scale of the prior draws.
    batch_size : int
        Rows decoded at once.

    Returns
    -------
    DataFrame
        Integer columns with an integer dtype (pandas' nullable ``Int64`` when they have gaps).

    Raises
    ------
    DataError
        An unknown column or level in ``where``, or a condition the model (almost) never generates.
    """
    import pandas as pd

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"The 'n' parameter of synthesize must be an int >= 1. Got {n!r} instead.")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"The 'seed' parameter of synthesize must be an int >= 0. Got {seed!r} instead.")
    spec = _table_spec(model)
    conditions = parse_where(where, spec)
    g = torch.Generator(device=model.device).manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        parts, have, drawn = [], 0, 0
        for _ in range(_MAX_ROUNDS):
            if have >= n:
                break
            # draw about what is still needed, scaled by the acceptance rate seen so far
            rate = have / drawn if drawn else 1.0
            size = int(min(batch_size, max(256, (n - have) / max(rate, 1e-3) * 1.1)))
            frame = _decode_rows(model, size, g, temperature)
            drawn += size
            if conditions:
                frame = frame[_matches(frame, conditions)]
            parts.append(frame)
            have += len(frame)
        if have < n:
            text = ", ".join(f"{k}={v}" for k, v in conditions.items())
            raise DataError(f"The model generated only {have} of {drawn:,} rows with {text}; that condition is too "
                            f"rare in what it learned to fill {n} rows.")
    finally:
        model.train(was_training)
    out = pd.concat(parts, ignore_index=True).iloc[:n].reset_index(drop=True)
    order = [c for c in (spec.table_columns or tuple(out.columns)) if c in out.columns]
    out = out[order]
    if missing and spec.missing_rates:
        rng = np.random.default_rng(seed)
        cols = spec.numeric_columns + spec.categorical_columns
        for col, rate in zip(cols, spec.missing_rates):
            if rate > 0 and col not in conditions:
                blank = rng.random(n) < rate
                if blank.any():
                    out[col] = out[col].astype(object if col in spec.categorical_columns else float)
                    out.loc[blank, col] = None if col in spec.categorical_columns else np.nan
    for col in spec.integer_columns:
        v = out[col].to_numpy(dtype=np.float64)
        out[col] = pd.array(np.where(np.isnan(v), 0, v).astype(np.int64), dtype="Int64")
        if np.isnan(v).any():
            out.loc[np.isnan(v), col] = pd.NA
        else:
            out[col] = out[col].astype(np.int64)
    return out


def write_table(frame, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``frame`` atomically as ``.csv`` or ``.parquet`` (refusing to replace a file unless ``overwrite``)."""
    from ..io import atomic_save

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SYNTH_SUFFIXES:
        raise DataError(f"Output file '{path}' must end in .csv or .parquet.")
    if path.exists() and not overwrite:
        raise DataError(f"Output file '{path}' exists; pass --overwrite (overwrite=True) to replace it.")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as e:
            raise ImportError("Writing .parquet files needs pyarrow: pip install 'vaekit[parquet]'") from e
        atomic_save(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        atomic_save(path, lambda tmp: frame.to_csv(tmp, index=False))
    return path


# ================================================================================================ comparison
def _encoded_for_distance(frames: Sequence[Any], spec: DataSpec) -> list[np.ndarray]:
    """Rows as vectors for distances: numeric columns scaled by the training spread (missing -> the mean),
    categorical columns one-hot (missing -> all zero)."""
    out = []
    for f in frames:
        parts = []
        for j, col in enumerate(spec.numeric_columns):
            v = np.asarray(f[col].astype(float).to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
            parts.append(np.nan_to_num((v - spec.mean[j]) / spec.std[j])[:, None])
        for col, cats in zip(spec.categorical_columns, spec.categories):
            text = f[col].astype(object).to_numpy()
            parts.append(np.stack([(text == c) for c in cats], axis=1).astype(np.float64))
        out.append(np.concatenate(parts, axis=1))
    return out


def distance_to_closest(rows, reference, spec: DataSpec, *, batch: int = 512) -> np.ndarray:
    """Euclidean distance of each row of ``rows`` to its closest row of ``reference`` (DataFrames), in the
    encoding of :func:`_encoded_for_distance` (numbers in training standard deviations, levels one-hot)."""
    a, b = _encoded_for_distance([rows, reference], spec)
    bt = torch.from_numpy(b)
    b2 = (bt**2).sum(1)
    out = np.empty(len(a))
    for i in range(0, len(a), batch):
        at = torch.from_numpy(a[i : i + batch])
        d2 = (at**2).sum(1, keepdim=True) - 2 * at @ bt.T + b2
        out[i : i + batch] = d2.clamp_min(0).min(1).values.sqrt().numpy()
    return out


def _association(frame, spec: DataSpec) -> tuple[list[str], np.ndarray]:
    """Pairwise association in [0, 1] (|Pearson| for numbers, Cramer's V for categories, the correlation
    ratio between a number and a category), missing cells left out pair by pair."""
    cols = list(spec.table_columns or (spec.numeric_columns + spec.categorical_columns))
    k = len(cols)
    m = np.eye(k)
    import pandas as pd

    def numeric(c):
        return np.asarray(pd.to_numeric(frame[c], errors="coerce"), dtype=np.float64)

    for i in range(k):
        for j in range(i + 1, k):
            a, b = cols[i], cols[j]
            a_num, b_num = a in spec.numeric_columns, b in spec.numeric_columns
            va = numeric(a) if a_num else frame[a].astype(object).to_numpy()
            vb = numeric(b) if b_num else frame[b].astype(object).to_numpy()
            ok = pd.notna(va) & pd.notna(vb)
            va, vb = va[ok], vb[ok]
            value = 0.0
            if len(va) > 2:
                if a_num and b_num:
                    if va.std() > 0 and vb.std() > 0:
                        value = abs(float(np.corrcoef(va, vb)[0, 1]))
                elif not a_num and not b_num:
                    table = pd.crosstab(va, vb).to_numpy(dtype=np.float64)
                    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
                    chi2 = float(((table - expected) ** 2 / np.where(expected > 0, expected, 1)).sum())
                    r = min(table.shape) - 1
                    value = math.sqrt(chi2 / (table.sum() * r)) if r > 0 else 0.0
                else:
                    num, cat = (va, vb) if a_num else (vb, va)
                    total = ((num - num.mean()) ** 2).sum()
                    if total > 0:
                        between = sum(((num[cat == c].mean() - num.mean()) ** 2) * (cat == c).sum()
                                      for c in np.unique(cat.astype(str)).astype(object) if (cat == c).any())
                        value = math.sqrt(float(between) / float(total))
            m[i, j] = m[j, i] = min(1.0, value)
    return cols, m


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _shapes_figure(real, synth, spec: DataSpec):
    import pandas as pd

    cols = list(spec.table_columns or (spec.numeric_columns + spec.categorical_columns))
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = _figure(4.2 * ncols, 2.8 * nrows)
    for i, col in enumerate(cols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if col in spec.numeric_columns:
            r = pd.to_numeric(real[col], errors="coerce").dropna().to_numpy(dtype=np.float64)
            s = pd.to_numeric(synth[col], errors="coerce").dropna().to_numpy(dtype=np.float64)
            both = np.concatenate([r, s])
            lo, hi = (np.quantile(both, [0.005, 0.995]) if len(both) else (0.0, 1.0))
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
            ax.hist(r, bins=bins, alpha=0.5, density=True, label="real", color="#1f77b4")
            ax.hist(s, bins=bins, alpha=0.5, density=True, label="synthetic", color="#ff7f0e")
        else:
            levels = list(spec.categories[spec.categorical_columns.index(col)])
            shown = levels if len(levels) <= 20 else list(real[col].astype(str).value_counts().index[:20])
            rf = real[col].astype(object).value_counts(normalize=True)
            sf = synth[col].astype(object).value_counts(normalize=True)
            xs = np.arange(len(shown))
            ax.bar(xs - 0.2, [float(rf.get(v, 0.0)) for v in shown], width=0.4, label="real", color="#1f77b4")
            ax.bar(xs + 0.2, [float(sf.get(v, 0.0)) for v in shown], width=0.4, label="synthetic", color="#ff7f0e")
            ax.set_xticks(xs, [str(v)[:12] for v in shown], rotation=45 if len(shown) > 4 else 0, fontsize=7)
        ax.set_title(col, fontsize=9)
        if i == 0:
            ax.legend(fontsize=7)
    return fig


def _correlation_figure(cols, real_m, synth_m):
    fig = _figure(12, 4.2)
    for i, (m, title) in enumerate([(real_m, "real"), (synth_m, "synthetic"), (np.abs(real_m - synth_m), "|difference|")]):
        ax = fig.add_subplot(1, 3, i + 1)
        im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(cols)), [c[:10] for c in cols], rotation=90, fontsize=7)
        ax.set_yticks(range(len(cols)), [c[:10] for c in cols], fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=fig.axes, shrink=0.8)
    return fig


def _dcr_figure(synth_d, holdout_d):
    fig = _figure(6, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    both = np.concatenate([synth_d, holdout_d])
    hi = float(np.quantile(both, 0.99)) if len(both) else 1.0
    bins = np.linspace(0, hi if hi > 0 else 1.0, 40)
    ax.hist(synth_d, bins=bins, alpha=0.5, density=True, label="synthetic -> closest real", color="#ff7f0e")
    ax.hist(holdout_d, bins=bins, alpha=0.5, density=True, label="held-out real -> closest real", color="#1f77b4")
    ax.set_xlabel("distance to the closest real row (standardised units)")
    ax.legend(fontsize=8)
    return fig


def synth_report(real, synth, spec: DataSpec, *, title: str = "Synthetic data", seed: int = 0,
                 max_rows: int = 5000) -> str:
    """The HTML of a page comparing ``real`` and ``synth`` (DataFrames with the spec's columns).

    Distances to the closest real record: the real rows are split in two halves (seeded); synthetic rows
    are compared with one half ("reference") and the other half's rows with the same half. Synthetic
    rows much closer than held-out real rows would be copies; the exact-copy share counts distance 0.
    At most ``max_rows`` rows of each table are used.
    """
    from ..report import Section, render_report

    rng = np.random.default_rng(seed)

    def cap(frame):
        return frame if len(frame) <= max_rows else frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]

    real_c, synth_c = cap(real).reset_index(drop=True), cap(synth).reset_index(drop=True)
    order = rng.permutation(len(real_c))
    half = max(1, len(order) // 2)
    reference, holdout = real_c.iloc[order[:half]], real_c.iloc[order[half:]]
    synth_d = distance_to_closest(synth_c, reference, spec)
    holdout_d = distance_to_closest(holdout, reference, spec) if len(holdout) else np.zeros(0)
    cols, real_m = _association(real_c, spec)
    _, synth_m = _association(synth_c, spec)
    rows = []
    for col in cols:
        if col in spec.numeric_columns:
            import pandas as pd

            r = pd.to_numeric(real_c[col], errors="coerce")
            s = pd.to_numeric(synth_c[col], errors="coerce")
            rows.append({"column": col, "type": "integer" if col in spec.integer_columns else "numeric",
                         "real mean": float(r.mean()), "synthetic mean": float(s.mean()),
                         "real std": float(r.std()), "synthetic std": float(s.std()),
                         "real missing": float(r.isna().mean()), "synthetic missing": float(s.isna().mean())})
        else:
            r, s = real_c[col].astype(object), synth_c[col].astype(object)
            rf, sf = r.value_counts(normalize=True), s.value_counts(normalize=True)
            tv = 0.5 * sum(abs(float(rf.get(v, 0)) - float(sf.get(v, 0))) for v in set(rf.index) | set(sf.index))
            rows.append({"column": col, "type": "categorical", "levels": len(rf), "total variation": tv,
                         "real missing": float(r.isna().mean()), "synthetic missing": float(s.isna().mean())})
    summary = {
        "real rows": len(real), "synthetic rows": len(synth),
        "mean |association difference|": float(np.abs(real_m - synth_m)[np.triu_indices(len(cols), 1)].mean())
        if len(cols) > 1 else 0.0,
        "median distance, synthetic -> closest real": float(np.median(synth_d)) if len(synth_d) else 0.0,
        "median distance, held-out real -> closest real": float(np.median(holdout_d)) if len(holdout_d) else 0.0,
        "exact copies (synthetic)": float(np.mean(synth_d < 1e-6)) if len(synth_d) else 0.0,
        "exact copies (held-out real)": float(np.mean(holdout_d < 1e-6)) if len(holdout_d) else 0.0,
    }
    sections = [
        Section.table("Summary", summary),
        Section.table("Columns", rows),
        Section.image("Column shapes", _shapes_figure(real_c, synth_c, spec),
                      "Histograms of numeric columns and level frequencies of categorical ones."),
        Section.image("Pairwise associations", _correlation_figure(cols, real_m, synth_m),
                      "|Pearson r| between numbers, Cramer's V between categories, the correlation ratio between a "
                      "number and a category."),
        Section.image("Distance to the closest real record", _dcr_figure(synth_d, holdout_d),
                      "Synthetic rows much closer to real rows than held-out real rows are would be copies."),
    ]
    return render_report(title=title, sections=sections)
