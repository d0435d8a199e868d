"""Synthetic tables: vaekit against ctgan's TVAE and CTGAN and SDV's GaussianCopula on six real tables.

Data: the six CSVs of ``../shared/data/tables/`` (diamonds, cps1988, credit_data, titanic, churn, wage). Each
table is split once (seed 0) into 80% train and 20% test; every method trains on the same train rows.
``--split valid`` (for tuning defaults, never the test split) carves 20% of the train rows off as the
held-out split and trains on the rest.

Methods, each given the same wall-clock budget of training per table (``--budget`` seconds; the clock
starts once a method's own preprocessing is done and its training loop begins):

* **vaekit**: exactly ``vaekit train train.csv --out RUN`` with the budget as ``--max-time`` (the
  preset: mixed likelihood, mode-specific normalisation, missing cells masked), then
  :func:`vaekit.tasks.synth.synthesize` (``vaekit synth RUN -n N``);
* **tvae** / **ctgan**: ``ctgan.TVAE()`` / ``ctgan.CTGAN()`` with their defaults and an epoch count large
  enough never to stop first; the budget ends the training loop between epochs (the script wraps the
  ``tqdm`` the loop iterates through; nothing else is touched);
* **gaussian_copula**: ``sdv``'s ``GaussianCopulaSynthesizer`` with its defaults and the column types
  every method is scored with (text columns categorical, the rest numerical); no training loop, so no budget.

Every method generates as many rows as the train split has (at most ``--max-rows``). Metrics:

* ``quality``: sdmetrics' ``QualityReport`` score (mean of Column Shapes and Column Pair Trends) of the
  synthetic rows against the held-out real rows, both capped at ``--eval-rows`` (seeded);
* ``ml_efficacy``: scikit-learn's ``HistGradientBoosting`` (defaults) trained on the synthetic rows to
  predict a named target, tested on the held-out real rows: R^2 for a numeric target (diamonds price,
  cps1988 wage, wage wage), AUROC for a binary one (credit_data Status, titanic survived, churn churn);
  ``real`` is the same model trained on the real train rows (the ceiling);
* privacy: ``dcr_median``, the median distance of a synthetic row to its closest train row (numbers in
  train standard deviations, categories one-hot), and ``exact_copy_rate``, the share of synthetic rows
  equal to some train row in every column; the ``holdout`` row gives both for the held-out real rows (the
  rate any fresh real sample would have).

    python bench/synth.py [--budget 60] [--tables diamonds,titanic] [--methods vaekit,tvae] [--split test|valid]
                          [--quick] [--threads 2]

Run it under ``flock /tmp/bench.lock``. The table goes to stdout, progress to stderr, the record to
``bench/out/synth.json``; the last stdout line is one JSON object (per table and mean per method).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit_summary, log, machine_info, print_table, write_json  # noqa: E402

TABLES_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "tables"
TARGETS = {"diamonds": "price", "cps1988": "wage", "credit_data": "Status", "titanic": "survived",
           "churn": "churn", "wage": "wage"}
METHODS = ("vaekit", "tvae", "ctgan", "gaussian_copula")


# ------------------------------------------------------------------------------------------- helpers
def _split(df, seed: int, fraction: float = 0.2):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    k = int(round(len(df) * fraction))
    return df.iloc[order[k:]].reset_index(drop=True), df.iloc[order[:k]].reset_index(drop=True)


def _discrete(df):
    return [c for c in df.columns if df[c].dtype == object or str(df[c].dtype) in ("category", "bool")]


class _Deadline:
    """Wraps ``tqdm(range(epochs))`` of a ctgan training loop: iteration stops once ``budget`` seconds have
    passed since the loop began (between epochs)."""

    def __init__(self, budget: float):
        self.budget = budget
        self.epochs = 0

    def __call__(self, iterable, *args, **kwargs):
        start = time.perf_counter()
        for item in iterable:
            if time.perf_counter() - start > self.budget:
                return
            self.epochs += 1
            yield item


def _fit_ctgan(kind: str, train, budget: float, seed: int):
    import torch

    if kind == "tvae":
        import ctgan.synthesizers.tvae as module

        model = module.TVAE(epochs=100_000)
    else:
        import ctgan.synthesizers.ctgan as module

        model = module.CTGAN(epochs=100_000)
    deadline = _Deadline(budget)
    saved = module.tqdm
    module.tqdm = deadline
    torch.manual_seed(seed)
    np.random.seed(seed)
    # ctgan's transformer fails to invert a numeric column with missing cells (a shape error in
    # inverse_transform), so numeric gaps are filled with the column median for training and blanked again
    # at the column's missing rate in the sample (what vaekit's synthesizer does with its learned rates)
    rates = {c: float(train[c].isna().mean()) for c in train.columns
             if c not in _discrete(train) and train[c].isna().any()}
    filled = train.fillna({c: train[c].median() for c in rates})
    try:
        model.fit(filled, discrete_columns=_discrete(train))
    finally:
        module.tqdm = saved
    return _Gapped(model, rates, seed), {"epochs": deadline.epochs}


class _Gapped:
    """A fitted ctgan model whose samples get numeric gaps at the train rates again (see ``_fit_ctgan``)."""

    def __init__(self, model, rates: dict, seed: int):
        self.model, self.rates, self.seed = model, rates, seed

    def sample(self, n: int):
        out = self.model.sample(n)
        rng = np.random.default_rng(self.seed)
        for c, rate in self.rates.items():
            out.loc[rng.random(n) < rate, c] = np.nan
        return out


def _run_vaekit(train, n: int, budget: float, seed: int, workdir: Path, variant: dict | None = None):
    from vaekit.data.kinds import TableKind
    from vaekit.tasks.runs import train_run
    from vaekit.tasks.synth import synthesize

    variant = variant or {}
    path = workdir / "train.csv"
    train.to_csv(path, index=False)
    saved = TableKind.normalization
    if "normalization" in variant:  # tuning only (--variants): the preset's encoding of numeric columns
        TableKind.normalization = variant["normalization"]
    try:
        run, _ = train_run(str(path), str(workdir / "run"), model_options=variant.get("model"),
                           train_options={"max_time": float(budget), "seed": seed, **variant.get("train", {})},
                           overwrite=True)
    finally:
        TableKind.normalization = saved
    epochs = len(run.history)
    return synthesize(run.model, n, seed=seed), {"epochs": epochs, "config": {
        "likelihood": run.model.config.likelihood, "hidden_dims": list(run.model.config.hidden_dims),
        "latent_dim": run.model.config.latent_dim, "missing": run.model.config.missing}}


def _run_copula(train, n: int, seed: int):
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    metadata = Metadata.load_from_dict({"tables": {"table": _sdmetrics_metadata(train)}})
    model = GaussianCopulaSynthesizer(metadata)
    np.random.seed(seed)
    model.fit({"table": train})  # sdv 2: the data of a one-table metadata, by table name
    out = model.sample(n)
    return out["table"] if isinstance(out, dict) else out


def _align(synth, train):
    """Synthetic columns in the train order and dtypes comparable with the real ones."""
    import pandas as pd

    synth = synth[list(train.columns)].copy()
    for c in train.columns:
        if c in _discrete(train):
            synth[c] = synth[c].astype(object).where(synth[c].notna(), None)
        else:
            synth[c] = pd.to_numeric(synth[c], errors="coerce").astype(float)
    return synth


def _sdmetrics_metadata(train):
    return {"columns": {c: {"sdtype": "categorical" if c in _discrete(train) else "numerical"} for c in train.columns}}


def _quality(real, synth, train, rows: int, seed: int) -> dict:
    from sdmetrics.reports.single_table import QualityReport

    rng = np.random.default_rng(seed)
    cap = lambda f: f if len(f) <= rows else f.iloc[rng.choice(len(f), rows, replace=False)].reset_index(drop=True)  # noqa: E731
    report = QualityReport()
    report.generate(cap(real), cap(synth), _sdmetrics_metadata(train), verbose=False)
    props = report.get_properties()
    by = dict(zip(props["Property"], props["Score"]))
    return {"quality": float(report.get_score()), "column_shapes": float(by.get("Column Shapes", math.nan)),
            "column_pair_trends": float(by.get("Column Pair Trends", math.nan))}


def _features(frame, train, target):
    import pandas as pd

    X = frame.drop(columns=[target]).copy()
    for c in X.columns:
        if c in _discrete(train):
            levels = sorted(train[c].dropna().astype(str).unique())
            X[c] = pd.Categorical(X[c].astype(object).where(X[c].notna(), None), categories=levels)
        else:
            X[c] = pd.to_numeric(X[c], errors="coerce").astype(float)
    return X


def _ml_efficacy(train_rows, test, train, target: str, seed: int) -> tuple[float, str]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import r2_score, roc_auc_score

    rows = train_rows[train_rows[target].notna()]
    X, Xt = _features(rows, train, target), _features(test, train, target)
    if target in _discrete(train):
        positive = sorted(train[target].dropna().astype(str).unique())[-1]
        y = (rows[target].astype(str) == positive).to_numpy()
        yt = (test[target].astype(str) == positive).to_numpy()
        if y.all() or not y.any():
            return 0.5, "auroc"  # a synthetic table with one class predicts nothing
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed).fit(X, y)
        return float(roc_auc_score(yt, model.predict_proba(Xt)[:, 1])), "auroc"
    y = rows[target].astype(float).to_numpy()
    model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed).fit(X, y)
    return float(r2_score(test[target].astype(float).to_numpy(), model.predict(Xt))), "r2"


def _row_keys(frame, train) -> np.ndarray:
    parts = []
    for c in train.columns:
        if c in _discrete(train):
            parts.append(frame[c].astype(object).where(frame[c].notna(), "<NA>").astype(str).to_numpy())
        else:
            v = frame[c].astype(float).to_numpy()
            parts.append(np.array([("<NA>" if np.isnan(t) else repr(float(t))) for t in v], dtype=object))
    return np.array(["\x1f".join(row) for row in zip(*parts)], dtype=object)


def _privacy(rows, train, spec, seed: int, max_train: int = 20_000, max_rows: int = 2_000) -> dict:
    from vaekit.tasks.synth import distance_to_closest

    train_keys = set(_row_keys(train, train).tolist())
    keys = _row_keys(rows, train)
    exact = float(np.mean([k in train_keys for k in keys]))
    rng = np.random.default_rng(seed)
    ref = train if len(train) <= max_train else train.iloc[rng.choice(len(train), max_train, replace=False)]
    sub = rows if len(rows) <= max_rows else rows.iloc[rng.choice(len(rows), max_rows, replace=False)]
    d = distance_to_closest(sub.reset_index(drop=True), ref.reset_index(drop=True), spec)
    return {"dcr_median": float(np.median(d)), "exact_copy_rate": exact}


# ------------------------------------------------------------------------------------------- main
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of training per method per table")
    ap.add_argument("--tables", default=",".join(TARGETS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--split", choices=("test", "valid"), default="test")
    ap.add_argument("--max-rows", type=int, default=20_000, help="synthetic rows per method (and train rows in ML)")
    ap.add_argument("--eval-rows", type=int, default=3_000, help="rows per side in the quality report")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="budget 5 s, titanic and credit_data only")
    ap.add_argument("--out", default="synth.json")
    ap.add_argument("--variants", default=None,
                    help='tuning: JSON list of vaekit variants [{"name": .., "model": {..}, "train": {..}, '
                         '"normalization": ..}] run as extra methods (use with --split valid)')
    args = ap.parse_args(argv)
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    if args.quick:
        args.budget, args.tables = 5.0, "titanic,credit_data"
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for t in tables:
        if t not in TARGETS:
            sys.exit(f"error: unknown table '{t}'; tables: {', '.join(TARGETS)}")
    for m in methods:
        if m not in METHODS:
            sys.exit(f"error: unknown method '{m}'; methods: {', '.join(METHODS)}")
    variants = {v["name"]: v for v in json.loads(args.variants)} if args.variants else {}
    methods += list(variants)
    from vaekit.data.tables import table_to_dataset

    results: dict = {}
    start_all = time.perf_counter()
    for name in tables:
        path = TABLES_DIR / f"{name}.csv"
        if not path.is_file():
            sys.exit(f"error: table '{path}' not found (../shared/data/tables/).")
        df = pd.read_csv(path)
        train, test = _split(df, args.seed)
        if args.split == "valid":
            train, test = _split(train, args.seed + 1)
        target = TARGETS[name]
        n = min(len(train), args.max_rows)
        spec = table_to_dataset(train, source=name, name=name, allow_missing=True).spec
        entry: dict = {"rows_train": len(train), "rows_heldout": len(test), "target": target}
        score, metric = _ml_efficacy(train.iloc[:args.max_rows], test, train, target, args.seed)
        entry["real"] = {"ml_efficacy": score, **_quality(test, train, train, args.eval_rows, args.seed)}
        entry["metric"] = metric
        entry["holdout"] = _privacy(test, train, spec, args.seed)
        for method in methods:
            log(f"[{name}] {method} ...")
            t0 = time.perf_counter()
            info: dict = {}
            if method == "vaekit" or method in variants:
                with tempfile.TemporaryDirectory() as tmp:
                    synth, info = _run_vaekit(train, n, args.budget, args.seed, Path(tmp), variants.get(method))
            elif method in ("tvae", "ctgan"):
                model, info = _fit_ctgan(method, train, args.budget, args.seed)
                synth = model.sample(n)
            else:
                synth = _run_copula(train, n, args.seed)
            seconds = time.perf_counter() - t0
            synth = _align(synth, train)
            score, _ = _ml_efficacy(synth, test, train, target, args.seed)
            entry[method] = {"ml_efficacy": score, **_quality(test, synth, train, args.eval_rows, args.seed),
                             **_privacy(synth, train, spec, args.seed), "seconds": seconds, **info}
            log(f"[{name}] {method}: quality {entry[method]['quality']:.4f}, ml {score:.4f}, "
                f"copies {entry[method]['exact_copy_rate']:.4f}, {seconds:.0f} s")
        results[name] = entry

    mean = {}
    for method in methods:
        mean[method] = {k: float(np.mean([results[t][method][k] for t in tables]))
                        for k in ("quality", "column_shapes", "column_pair_trends", "ml_efficacy", "dcr_median",
                                  "exact_copy_rate")}
    mean["holdout"] = {k: float(np.mean([results[t]["holdout"][k] for t in tables])) for k in ("dcr_median", "exact_copy_rate")}
    mean["real"] = {"ml_efficacy": float(np.mean([results[t]["real"]["ml_efficacy"] for t in tables]))}

    rows = []
    for t in tables:
        for m in methods:
            r = results[t][m]
            rows.append([t, m, r["quality"], r["column_shapes"], r["column_pair_trends"], r["ml_efficacy"],
                         r["dcr_median"], r["exact_copy_rate"], r["seconds"]])
        rows.append([t, "holdout/real", results[t]["real"]["quality"], "", "", results[t]["real"]["ml_efficacy"],
                     results[t]["holdout"]["dcr_median"], results[t]["holdout"]["exact_copy_rate"], ""])
    for m in methods:
        r = mean[m]
        rows.append(["MEAN", m, r["quality"], r["column_shapes"], r["column_pair_trends"], r["ml_efficacy"],
                     r["dcr_median"], r["exact_copy_rate"], ""])
    rows.append(["MEAN", "holdout/real", "", "", "", mean["real"]["ml_efficacy"], mean["holdout"]["dcr_median"],
                 mean["holdout"]["exact_copy_rate"], ""])
    print_table(f"Synthetic tables ({args.split} split, {args.budget:g} s per method per table)",
                ["table", "method", "quality", "shapes", "pairs", "ml_efficacy", "dcr_median", "exact_copies", "s"], rows)
    acceptance = {}
    if {"vaekit", "tvae", "ctgan"} <= set(methods):
        acceptance = {
            "quality_ge_tvae_and_ctgan": mean["vaekit"]["quality"] >= max(mean["tvae"]["quality"], mean["ctgan"]["quality"]),
            "ml_efficacy_ge_tvae": mean["vaekit"]["ml_efficacy"] >= mean["tvae"]["ml_efficacy"],
            "exact_copies_le_holdout": all(results[t]["vaekit"]["exact_copy_rate"] <= results[t]["holdout"]["exact_copy_rate"]
                                           for t in tables),
        }
    record = {"machine": machine_info(), "args": vars(args), "metric_per_table": {t: results[t]["metric"] for t in tables},
              "tables": results, "mean": mean, "acceptance": acceptance,
              "seconds_total": time.perf_counter() - start_all}
    write_json(args.out, record)
    emit_summary({"bench": "synth", "split": args.split, "budget_s": args.budget,
                  "per_table": {t: {m: {k: round(results[t][m][k], 4) for k in ("quality", "ml_efficacy", "exact_copy_rate")}
                                    for m in methods} | {"holdout": {"exact_copy_rate": round(results[t]["holdout"]["exact_copy_rate"], 4)},
                                                         "ml_metric": results[t]["metric"]}
                                for t in tables},
                  "mean": {m: {k: round(v, 4) for k, v in mean[m].items()} for m in mean},
                  "acceptance": acceptance})


if __name__ == "__main__":
    main()
