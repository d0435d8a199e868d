"""Does MIWAE imputation (``vaekit.VAEImputer``) beat the usual imputers? RMSE on missing entries.

Setting: 50% of the entries missing completely at random (each entry dropped independently with
probability 0.5), the same masks for every method, several seeds; each imputer is fitted on the
incomplete data and completes it (the usual transductive use). Score: root mean squared error over the
missing entries only, against the held-back true values.

Data:

* four real tables bundled with scikit-learn, every column standardised (z-scores of the complete table):
  ``iris`` (150 x 4), ``wine`` (178 x 13), ``diabetes`` (442 x 10), ``breast_cancer`` (569 x 30);
* MNIST: the first ``--mnist-n`` training digits as 784 grey values in [0, 1] (``../shared/data/mnist.npz``).

Methods:

* **vaekit**: ``VAEImputer(seed=s)`` with its defaults (MIWAE bound with k=20 importance samples, 1,000
  importance samples for the conditional-mean imputation, ``epochs="auto"``): on tables a Gaussian
  likelihood, on MNIST (values in [0, 1]) a Bernoulli likelihood with a 512-256 MLP and latent 32.
  ``--mnist-tuned`` restores the hand-set MNIST settings of the 2026-11-23 run (256-128 MLP, latent 16,
  lr 2e-3, 150 epochs, 200 samples when imputing);
* **mean**: ``SimpleImputer(strategy="mean")``;
* **knn**: ``KNNImputer()`` (5 neighbours, nan-Euclidean distance);
* **iterative**: ``IterativeImputer()`` (BayesianRidge, 10 rounds) with its defaults on tables;
* **missforest**: ``IterativeImputer(ExtraTreesRegressor(n_estimators=50), max_iter=10)``, the usual
  missForest-like set-up.

On MNIST the two iterative imputers would need hours with 784 columns, so there they use
``n_nearest_features=20`` and ``max_iter=3`` (and 10 trees for ExtraTrees); this is said in the JSON.

    python bench/impute.py [--data PATH] [--seeds 3] [--mnist-n 1000] [--mnist-seeds 2] [--quick] [--threads 1]

About 15-20 minutes on 2 CPU cores. torch runs on one thread by default (``--threads``): these models are
small, and extra threads only add synchronisation. ``--quick``: 1 seed, iris and wine at full size, MNIST
200 digits, short training and one iterative round (~1-2 min; its figures are not meaningful). The table goes to stdout, progress to stderr, the full record to
``bench/out/impute.json``; the last stdout line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TABLES = ("iris", "wine", "diabetes", "breast_cancer")
METHODS = ("vaekit", "mean", "knn", "iterative", "missforest")
MISSING_RATE = 0.5


def load_table(name: str) -> np.ndarray:
    from sklearn import datasets

    x = getattr(datasets, f"load_{name}")().data.astype(np.float64)
    return (x - x.mean(0)) / x.std(0)


def mcar(x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Boolean mask, True = missing, each entry independently with probability ``rate``."""
    return np.random.default_rng(seed).random(x.shape) < rate


def imputers(kind: str, seed: int, quick: bool, tuned: bool = False) -> dict:
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    import vaekit

    if kind == "table":
        vae = vaekit.VAEImputer(seed=seed, **({"epochs": 100} if quick else {}))
        it_kw: dict = {}
        trees = 50
    else:
        if tuned:
            vae = vaekit.VAEImputer(latent_dim=16, hidden_dims=(256, 128), k=20, n_samples=200, batch_size=64,
                                    lr=2e-3, epochs=5 if quick else 150, seed=seed)
        else:
            vae = vaekit.VAEImputer(seed=seed, **({"epochs": 5} if quick else {}))
        it_kw = {"n_nearest_features": 20, "max_iter": 1 if quick else 3}
        trees = 10
    return {
        "vaekit": vae,
        "mean": SimpleImputer(strategy="mean"),
        "knn": KNNImputer(),
        "iterative": IterativeImputer(random_state=seed, **it_kw),
        "missforest": IterativeImputer(
            estimator=ExtraTreesRegressor(n_estimators=trees, random_state=seed),
            random_state=seed, **({"max_iter": 10} | it_kw)),
    }


def run_one(x: np.ndarray, seed: int, kind: str, quick: bool, tuned: bool = False) -> dict:
    mask = mcar(x, MISSING_RATE, seed)
    xm = x.copy()
    xm[mask] = np.nan
    out = {}
    for name, imp in imputers(kind, seed, quick, tuned).items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IterativeImputer's "did not converge" and friends
            done = imp.fit_transform(xm)
        if done.shape != x.shape:
            raise RuntimeError(f"{name} returned shape {done.shape} for {x.shape} (dropped an empty column?)")
        if not np.array_equal(done[~mask], x[~mask]):
            raise RuntimeError(f"{name} changed observed entries")
        out[name] = {"rmse": float(np.sqrt(np.mean((done[mask] - x[mask]) ** 2))),
                     "seconds": time.perf_counter() - t0}
    return out


def summarise(per_seed: list[dict]) -> dict:
    s = {}
    for m in METHODS:
        v = np.array([r[m]["rmse"] for r in per_seed])
        t = np.array([r[m]["seconds"] for r in per_seed])
        s[m] = {"rmse_mean": float(v.mean()), "rmse_std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                "rmse_per_seed": v.tolist(), "seconds_mean": float(t.mean())}
    s["vaekit_best"] = all(s["vaekit"]["rmse_mean"] < s[m]["rmse_mean"] for m in METHODS if m != "vaekit")
    return s


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(C.DEFAULT_MNIST), help="MNIST .npz (x_train, ...)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds (masks and model seeds) per table")
    ap.add_argument("--mnist-n", type=int, default=1000, help="MNIST digits")
    ap.add_argument("--mnist-seeds", type=int, default=2)
    ap.add_argument("--tables", default=",".join(TABLES), help="comma-separated subset of " + ",".join(TABLES))
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--quick", action="store_true", help="small smoke run (~1-2 min)")
    ap.add_argument("--mnist-tuned", action="store_true",
                    help="MNIST with the hand-set VAEImputer settings of 2026-11-23 instead of its defaults")
    args = ap.parse_args(argv)
    tables = [t for t in args.tables.split(",") if t]
    if args.quick:
        args.seeds, args.mnist_n, args.mnist_seeds = 1, 200, 1
        tables = [t for t in tables if t in ("iris", "wine")]

    import torch

    import vaekit

    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    for name in tables:
        x = load_table(name)
        per_seed = []
        for seed in range(args.seeds):
            C.log(f"{name} {x.shape}: seed {seed}")
            per_seed.append(run_one(x, seed, "table", args.quick))
        results[name] = {"shape": list(x.shape), **summarise(per_seed)}
    if args.mnist_n > 0:
        mn = C.load_mnist(args.data)
        x = mn["x_train"][: args.mnist_n].reshape(args.mnist_n, -1).astype(np.float64) / 255
        per_seed = []
        for seed in range(args.mnist_seeds):
            C.log(f"mnist {x.shape}: seed {seed}")
            per_seed.append(run_one(x, seed, "image", args.quick, args.mnist_tuned))
        results["mnist"] = {"shape": list(x.shape), **summarise(per_seed)}

    rows = []
    for name, r in results.items():
        rows.append([name] + [f"{r[m]['rmse_mean']:.3f} ± {r[m]['rmse_std']:.3f}" for m in METHODS]
                    + ["yes" if r["vaekit_best"] else "no"])
    C.print_table(f"RMSE on missing entries, {MISSING_RATE:.0%} MCAR (mean ± std over seeds)",
                  ["data", *METHODS, "vaekit best"], rows)
    record = {"benchmark": "impute", "machine": C.machine_info(), "vaekit_version": vaekit.__version__,
              "settings": {**vars(args), "tables": tables, "missing_rate": MISSING_RATE,
                           "mnist_iterative": "n_nearest_features=20, max_iter=3 (1 with --quick); ExtraTrees 10 trees"},
              "results": results}
    path = C.write_json("impute.json", record)
    C.log(f"wrote {path}")
    summary = {"benchmark": "impute", "quick": bool(args.quick), "missing_rate": MISSING_RATE}
    for name, r in results.items():
        summary[name] = {m: [round(r[m]["rmse_mean"], 4), round(r[m]["rmse_std"], 4)] for m in METHODS}
        summary[name]["vaekit_best"] = r["vaekit_best"]
    summary["tables_won"] = sum(bool(results[t]["vaekit_best"]) for t in tables)
    summary["tables"] = len(tables)
    C.emit_summary(summary)


if __name__ == "__main__":
    main()
