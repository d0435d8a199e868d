"""Anomaly detection: vaekit's VAEOutlierDetector vs PyOD's VAE, IsolationForest, ECOD, kNN and PCA, on images and tables.

1. **One-class MNIST** (``../shared/data/mnist.npz``), the standard protocol: for each digit c, every
   detector is fitted on the training images of c only (about 6,000) and scores the full MNIST test set
   (10,000); AUROC with "not c" as the anomaly class. Detectors, all in the same run:

   * vaekit: ``VAEOutlierDetector()`` with its defaults (``scoring="auto"``, i.e. ``"complexity"`` for
     images) and a wall-clock budget of ``--minutes-per-digit`` (VAE plus local pixel model), on the
     uint8 images as they are;
   * PyOD: ``pyod.models.vae.VAE()`` with its defaults (``epoch_num=30``, batch 32, latent_dim 2,
     standardised inputs; its score is the reconstruction error), on flattened [0, 1] pixels;
   * scikit-learn ``IsolationForest(random_state=0)`` on flattened [0, 1] pixels;
   * PCA reconstruction error (``PCA(n_components=0.9)``: the components explaining 90% of the variance
     of the training digit), on flattened [0, 1] pixels.

   The same fitted vaekit model is also scored with each of its rules (``elbo``, ``iwae``,
   ``reconstruction``, ``complexity``): the measurement behind the default.

2. **Tables** that ship inside scikit-learn (no download), each turned into a one-class task: the
   normal rows are split 60/40 at random; detectors are fitted on the 60% and score the 40% plus every
   anomalous row; AUROC, mean over ``--table-seeds`` splits:

   * ``breast_cancer`` (569 x 30): benign tumours normal, malignant (212) anomalous;
   * ``wine`` (178 x 13): cultivars 0 and 1 normal, cultivar 2 (the smallest class, 48) anomalous;
   * ``optdigits`` (``load_digits``, 1,797 x 64 pixel counts 0..16, used as a table as in the ODDS
     benchmark): digits 1-9 normal, digit 0 (178) anomalous;
   * ``iris`` (150 x 4): setosa and versicolor normal, virginica (50) anomalous.

   vaekit sees the raw numeric array (it standardises tables itself); PyOD standardises by default;
   IsolationForest and PCA see standardised columns (scaler fitted on the training rows).

3. **Flat one-class MNIST** (``--mnist flat``, issue 20): the same protocol, but vaekit gets the images as
   flat float vectors in [0, 1] (n, 784) -- the shape ``fetch_openml("mnist_784")`` gives -- with
   ``image_shape=(28, 28)``; the warning a user gets without ``image_shape`` is recorded too. The baselines
   see the same flat vectors as in part 1, so they are not repeated.

4. **ADBench tables** (``--tables adbench``, issue 20): the .npz tables of ``../shared/data/anomaly/``
   (Han et al. 2022) under ADBench's unsupervised protocol -- every detector is fitted on all rows,
   anomalies included, and scores them; AUROC. vaekit ``VAEOutlierDetector()`` with its defaults (the raw
   table), ``IsolationForest(random_state=0)`` and PyOD's ``ECOD()`` on the raw table, PyOD's ``KNN()`` and
   ``PCA()`` on standardised columns, all in the same run. The defaults of vaekit's table detector were
   chosen on the 10 tables of ``SELECTION_TABLES`` (every other table in ADBench-number order); the
   other 9 were held out, and both halves are reported apart.

Scores are oriented so that higher = more anomalous for AUROC (vaekit: ``-score_samples``; PyOD:
``decision_function``; IsolationForest: ``-score_samples``; PCA: squared reconstruction error).

    python bench/anomaly.py [--data PATH] [--digits 0,1,...] [--minutes-per-digit 1.5] [--epochs N]
                            [--threads N] [--skip-pyod] [--skip-tables] [--quick]
                            [--mnist images|flat|both|none] [--tables sklearn|adbench|none] [--out NAME.json]

The tables go to stdout, progress to stderr, the full record to ``bench/out/anomaly.json``, and the last
stdout line is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

RULES = ("complexity", "iwae", "elbo", "reconstruction")
DETECTORS = ("vaekit", "pyod", "iforest", "pca")


# ============================================================================================= detectors
def auroc(y_anomaly: np.ndarray, anomaly_score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_anomaly, anomaly_score))


def pyod_scores(x_train: np.ndarray, x_test: np.ndarray, *, epochs: int | None, seed: int) -> np.ndarray:
    from pyod.models.vae import VAE

    params: dict[str, Any] = dict(verbose=0, random_state=seed)
    if epochs is not None:
        params["epoch_num"] = epochs
    model = VAE(**params).fit(x_train.astype(np.float32))
    return np.asarray(model.decision_function(x_test.astype(np.float32)), dtype=np.float64)


def iforest_scores(x_train, x_test, *, seed: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    return -IsolationForest(random_state=seed).fit(x_train).score_samples(x_test)


def pca_scores(x_train, x_test, *, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=0.9, random_state=seed).fit(x_train)
    rec = pca.inverse_transform(pca.transform(x_test))
    return ((x_test - rec) ** 2).sum(axis=1)


def timed(fn: Callable, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


# ============================================================================================= MNIST
def flat_warning(flat: np.ndarray) -> str:
    """The warning a user gets who passes flat [0, 1] pixel vectors without ``image_shape`` (a 1-epoch fit
    of a few rows: the warning is raised before training)."""
    import warnings

    from vaekit import VAEOutlierDetector

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        VAEOutlierDetector(epochs=1, hidden_dims=(8,)).fit(flat[:64])
    return " | ".join(str(w.message) for w in caught if issubclass(w.category, UserWarning))


def one_class_mnist(args, arrays, *, flat: bool = False) -> dict:
    """One-class MNIST; ``flat``: vaekit gets flat float vectors in [0, 1] (n, 784) with ``image_shape=(28, 28)``
    instead of the uint8 images."""
    import torch

    from vaekit import VAEOutlierDetector

    x_tr, y_tr, x_te, y_te = arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    flat_te = x_te.reshape(len(x_te), -1).astype(np.float32) / 255
    per_digit: dict[int, dict] = {}
    warning = None
    for c in args.digits:
        imgs = x_tr[y_tr == c]
        if args.train_limit:
            imgs = imgs[: args.train_limit]
        flat_tr = imgs.reshape(len(imgs), -1).astype(np.float32) / 255
        y = (y_te != c).astype(int)
        row: dict[str, Any] = {"digit": c, "n_train": int(len(imgs))}
        params: dict[str, Any] = {"seed": args.seed}
        if args.epochs is not None:
            params["epochs"] = args.epochs
        if args.minutes_per_digit:
            params["max_time"] = 60.0 * args.minutes_per_digit
        if flat:
            if warning is None:
                warning = flat_warning(flat_tr)
                C.log(f"without image_shape: {warning or 'NO WARNING'}")
            params["image_shape"] = (28, 28)
            det, t = timed(VAEOutlierDetector(**params).fit, flat_tr)
        else:
            det, t = timed(VAEOutlierDetector(**params).fit, imgs)
        C.log(f"digit {c}: vaekit trained in {t:.0f} s ({len(det.history_)} epochs, scoring {det.scoring_})")
        row["vaekit_fit_s"] = round(t, 1)
        row["vaekit_epochs"] = len(det.history_)
        t = time.perf_counter()
        for rule in (RULES if not flat else ("complexity",)):  # the same fitted model under each scoring rule
            # (flat: the default rule only -- the model and its inputs are those of the image part)
            det.scoring_ = rule
            row[f"rule_{rule}"] = auroc(y, -det.score_samples(flat_te if flat else x_te))
        det.scoring_ = "complexity"
        row["vaekit_score_s"] = round(time.perf_counter() - t, 1)
        row["vaekit"] = row["rule_complexity"]
        if not args.skip_pyod and not flat:
            torch.manual_seed(args.seed)
            s, t = timed(pyod_scores, flat_tr, flat_te, epochs=args.pyod_epochs, seed=args.seed)
            row["pyod"], row["pyod_s"] = auroc(y, s), round(t, 1)
        if not flat:  # the baselines see the same flat vectors either way: measured once, in the image part
            s, t = timed(iforest_scores, flat_tr, flat_te, seed=args.seed)
            row["iforest"], row["iforest_s"] = auroc(y, s), round(t, 1)
            s, t = timed(pca_scores, flat_tr, flat_te, seed=args.seed)
            row["pca"], row["pca_s"] = auroc(y, s), round(t, 1)
        per_digit[c] = row
        C.log("digit {}: ".format(c) + ", ".join(f"{k} {row[k]:.4f}" for k in (*DETECTORS, *(f"rule_{r}" for r in RULES))
                                                 if k in row))
    means = {k: float(np.mean([r[k] for r in per_digit.values()]))
             for k in (*DETECTORS, *(f"rule_{r}" for r in RULES)) if all(k in r for r in per_digit.values())}
    out = {"per_digit": per_digit, "mean": means, "input": "flat float [0, 1] vectors, image_shape=(28, 28)" if flat
           else "uint8 images (n, 28, 28)"}
    if flat:
        out["warning_without_image_shape"] = warning
    return out


# ============================================================================================= tables
def load_tables() -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """name -> (X float64, is_anomaly int, how the task is built)."""
    from sklearn import datasets as D

    out = {}
    b = D.load_breast_cancer()
    out["breast_cancer"] = (b.data, (b.target == 0).astype(int), "benign normal, malignant anomalous")
    w = D.load_wine()
    out["wine"] = (w.data, (w.target == 2).astype(int), "cultivars 0-1 normal, cultivar 2 anomalous")
    d = D.load_digits()
    out["optdigits"] = (d.data, (d.target == 0).astype(int), "digits 1-9 normal, 0 anomalous (64 counts as a table)")
    i = D.load_iris()
    out["iris"] = (i.data, (i.target == 2).astype(int), "setosa+versicolor normal, virginica anomalous")
    return out


def tables(args) -> dict:
    import torch
    from sklearn.preprocessing import StandardScaler

    from vaekit import VAEOutlierDetector

    results: dict[str, dict] = {}
    for name, (X, anomalous, how) in load_tables().items():
        scores: dict[str, list[float]] = {k: [] for k in DETECTORS if not (k == "pyod" and args.skip_pyod)}
        for split_seed in range(args.table_seeds):
            rng = np.random.default_rng(split_seed)
            normal = np.flatnonzero(anomalous == 0)
            rng.shuffle(normal)
            n_tr = int(round(0.6 * len(normal)))
            tr, te = normal[:n_tr], np.concatenate([normal[n_tr:], np.flatnonzero(anomalous == 1)])
            y = anomalous[te]
            det = VAEOutlierDetector(seed=args.seed, epochs=args.table_epochs).fit(X[tr])
            scores["vaekit"].append(auroc(y, -det.score_samples(X[te])))
            sc = StandardScaler().fit(X[tr])
            if "pyod" in scores:
                torch.manual_seed(args.seed)
                scores["pyod"].append(auroc(y, pyod_scores(X[tr], X[te], epochs=args.pyod_epochs, seed=args.seed)))
            scores["iforest"].append(auroc(y, iforest_scores(sc.transform(X[tr]), sc.transform(X[te]), seed=args.seed)))
            scores["pca"].append(auroc(y, pca_scores(sc.transform(X[tr]), sc.transform(X[te]), seed=args.seed)))
        results[name] = {"task": how, "shape": list(X.shape), "n_anomalies": int(anomalous.sum()),
                         **{k: float(np.mean(v)) for k, v in scores.items()}}
        C.log(f"table {name}: " + ", ".join(f"{k} {results[name][k]:.4f}" for k in scores))
    keys = [k for k in DETECTORS if all(k in r for r in results.values())]
    return {"per_table": results, "mean": {k: float(np.mean([r[k] for r in results.values()])) for k in keys}}


# ============================================================================================= ADBench tables
#: ADBench's tables (Han et al. 2022), one .npz each with X and y (1 = anomaly).
ADBENCH_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "anomaly"
#: The tables the defaults of VAEOutlierDetector were chosen on (every other one in ADBench-number order);
#: the other nine were not looked at while tuning. Both halves are reported apart.
SELECTION_TABLES = ("5_campaign", "12_fault", "17_InternetAds", "21_Lymphography", "23_mammography",
                    "28_pendigits", "35_SpamBase", "39_vertebral", "42_WBC", "46_WPBC")
ADBENCH_DETECTORS = ("vaekit", "iforest", "ecod", "knn", "pca")


def load_adbench(folder: Path, max_rows: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (X float64, y int) for every .npz in ``folder``, in ADBench-number order; ``max_rows``: a seeded
    subsample of bigger tables (exploration only, never the reported figure)."""
    files = sorted(Path(folder).glob("*.npz"), key=lambda f: (int(f.stem.split("_")[0]) if f.stem.split("_")[0].isdigit()
                                                               else 10**9, f.stem))
    if not files:
        raise SystemExit(f"no ADBench tables (*.npz) in {folder}")
    out = {}
    for f in files:
        with np.load(f) as d:
            X, y = np.asarray(d["X"], dtype=np.float64), np.asarray(d["y"]).astype(int).ravel()
        if max_rows and len(X) > max_rows:
            idx = np.sort(np.random.default_rng(0).choice(len(X), max_rows, replace=False))
            X, y = X[idx], y[idx]
        out[f.stem] = (X, y)
    return out


def adbench_scores(name: str, X: np.ndarray, seed: int, detectors=ADBENCH_DETECTORS,
                   vaekit_params: dict | None = None) -> dict[str, tuple[np.ndarray, float]]:
    """ADBench's unsupervised protocol: every detector is fitted on all rows (anomalies included) and scores
    them; higher = more anomalous. vaekit gets the raw table (its defaults do their own scaling);
    IsolationForest and ECOD are invariant to per-column affine scaling and get it raw too; kNN and PCA
    (PyOD's defaults) get standardised columns."""
    from sklearn.preprocessing import StandardScaler

    from vaekit import VAEOutlierDetector

    out = {}
    xs = None
    for det in detectors:
        t = time.perf_counter()
        if det == "vaekit":
            s = -VAEOutlierDetector(seed=seed, **(vaekit_params or {})).fit(X).score_samples(X)
        elif det == "iforest":
            from sklearn.ensemble import IsolationForest

            s = -IsolationForest(random_state=0).fit(X).score_samples(X)
        elif det == "ecod":
            from pyod.models.ecod import ECOD

            s = ECOD().fit(X).decision_scores_
        else:
            if xs is None:
                xs = StandardScaler().fit_transform(X)
            if det == "knn":
                from pyod.models.knn import KNN

                s = KNN().fit(xs).decision_scores_
            else:
                from pyod.models.pca import PCA as PyodPCA

                s = PyodPCA(random_state=0).fit(xs).decision_scores_
        out[det] = (np.asarray(s, dtype=np.float64), time.perf_counter() - t)
    return out


def adbench(args) -> dict:
    import warnings

    per: dict[str, dict] = {}
    only = [v for v in (args.adbench_only or "").split(",") if v]
    params = {} if args.adbench_max_time is None else {"max_time": args.adbench_max_time}
    for name, (X, y) in load_adbench(args.adbench_dir, args.adbench_max_rows).items():
        if only and name not in only:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyOD's and scikit-learn's deprecation chatter
            got = adbench_scores(name, X, args.seed, detectors=args.adbench_detectors, vaekit_params=params)
        row: dict[str, Any] = {"shape": list(X.shape), "anomaly_share": round(float(y.mean()), 4),
                               "selection": name in SELECTION_TABLES}
        for det, (s, t) in got.items():
            s = np.nan_to_num(s, nan=np.nanmax(s) if np.isfinite(s).any() else 0.0, posinf=np.finfo(float).max)
            row[det], row[f"{det}_s"] = auroc(y, s), round(t, 1)
        per[name] = row
        C.write_json(Path(args.out).stem + "_partial.json", per)  # what is done so far, table by table
        C.log(f"{name} {X.shape}: " + ", ".join(f"{d} {row[d]:.4f} ({row[d + '_s']:.0f} s)" for d in got))

    dets = tuple(args.adbench_detectors)

    def summary(names):
        if not names:
            return {"tables": 0, **{d: float("nan") for d in dets}, "wins_vs_iforest": 0}
        return {"tables": len(names), **{d: float(np.mean([per[n][d] for n in names])) for d in dets},
                "wins_vs_iforest": int(sum(per[n]["vaekit"] > per[n]["iforest"] for n in names))}

    allnames = list(per)
    return {"per_table": per, "all": summary(allnames),
            "selection": summary([n for n in allnames if per[n]["selection"]]),
            "held_out": summary([n for n in allnames if not per[n]["selection"]]),
            "selection_tables": list(SELECTION_TABLES)}


# ============================================================================================= main
def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(C.DEFAULT_MNIST), help="mnist.npz")
    p.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated normal classes")
    p.add_argument("--minutes-per-digit", type=float, default=1.5, help="vaekit training budget per digit")
    p.add_argument("--epochs", type=int, default=None, help="vaekit epochs per digit (default: auto, cut by the budget)")
    p.add_argument("--pyod-epochs", type=int, default=None, help="PyOD epochs (default: PyOD's own, 30)")
    p.add_argument("--table-epochs", default="auto", help="vaekit epochs on tables (default: auto)")
    p.add_argument("--table-seeds", type=int, default=5, help="random normal-row splits per table")
    p.add_argument("--train-limit", type=int, default=None, help="training images per digit (default: all)")
    p.add_argument("--test-limit", type=int, default=None, help="test images (default: all 10,000)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="anomaly.json", help="record file name under bench/out/")
    p.add_argument("--skip-pyod", action="store_true")
    p.add_argument("--skip-tables", action="store_true", help="no table part (same as --tables none)")
    p.add_argument("--tables", choices=("sklearn", "adbench", "none"), default="sklearn",
                   help="table part: the four scikit-learn one-class tasks, or ADBench's tables (unsupervised protocol)")
    p.add_argument("--adbench-dir", default=str(ADBENCH_DIR), help="folder of ADBench .npz tables")
    p.add_argument("--adbench-max-rows", type=int, default=None,
                   help="subsample bigger ADBench tables (exploration only; default: every row)")
    p.add_argument("--adbench-detectors", default=",".join(ADBENCH_DETECTORS),
                   help="comma-separated subset of vaekit,iforest,ecod,knn,pca (default: all)")
    p.add_argument("--adbench-only", default=None, help="comma-separated ADBench table names (dev runs)")
    p.add_argument("--adbench-max-time", type=float, default=None,
                   help="vaekit training budget per table in seconds (dev runs; default: the detector's own default)")
    p.add_argument("--mnist", choices=("images", "flat", "both", "none"), default="images",
                   help="one-class MNIST with uint8 images, with flat [0, 1] vectors plus image_shape, both, or none")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: digits 0,1, 600 training / 2,000 test images, 3 epochs, 2 table splits")
    args = p.parse_args(argv)
    args.digits = [int(v) for v in args.digits.split(",") if v.strip()]
    args.adbench_dir = Path(args.adbench_dir)
    args.adbench_detectors = [d for d in args.adbench_detectors.split(",") if d]
    if "vaekit" not in args.adbench_detectors or "iforest" not in args.adbench_detectors:
        p.error("--adbench-detectors must include vaekit and iforest")
    args.table_epochs = args.table_epochs if args.table_epochs == "auto" else int(args.table_epochs)
    if args.quick:
        args.digits = args.digits[:2] if len(args.digits) > 2 else args.digits
        args.train_limit, args.test_limit = args.train_limit or 600, args.test_limit or 2000
        args.epochs, args.minutes_per_digit = args.epochs or 3, None
        args.pyod_epochs = args.pyod_epochs or 2
        args.table_epochs, args.table_seeds = 20 if args.table_epochs == "auto" else args.table_epochs, 2

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.skip_tables:
        args.tables = "none"
    arrays = C.subset_first(C.load_mnist(args.data), None, args.test_limit) if args.mnist != "none" else None
    mnist = one_class_mnist(args, arrays) if args.mnist in ("images", "both") else None
    flat = one_class_mnist(args, arrays, flat=True) if args.mnist in ("flat", "both") else None
    tab = tables(args) if args.tables == "sklearn" else None
    adb = adbench(args) if args.tables == "adbench" else None
    total = time.perf_counter() - start

    for part, what in ((mnist, "uint8 images"), (flat, "flat [0, 1] vectors, image_shape=(28, 28)")):
        if part is None:
            continue
        cols = [k for k in (*DETECTORS, *(f"rule_{r}" for r in RULES)) if k in part["mean"]]
        rows = [[str(c), *[r.get(k) for k in cols], r["vaekit_fit_s"]] for c, r in part["per_digit"].items()]
        rows.append(["mean", *[part["mean"][k] for k in cols], None])
        C.print_table(f"One-class MNIST AUROC, {what} (normal digit vs the rest of the test set)",
                      ["digit", *[k.replace("rule_", "vaekit ") for k in cols], "vaekit fit s"],
                      [[f"{v:.4f}" if isinstance(v, float) and k < len(cols) + 1 else v for k, v in enumerate(r)]
                       for r in rows])
    if adb is not None:
        arows = [[n, "sel" if r["selection"] else "held", "x".join(map(str, r["shape"])),
                  *[f"{r[d]:.4f}" for d in args.adbench_detectors], r["vaekit_s"]] for n, r in adb["per_table"].items()]
        for key, label in (("selection", "mean (selection)"), ("held_out", "mean (held out)"), ("all", "mean (all)")):
            arows.append([label, "", str(adb[key]["tables"]), *[f"{adb[key][d]:.4f}" for d in args.adbench_detectors],
                          f"wins {adb[key]['wins_vs_iforest']}"])
        C.print_table("ADBench tables, unsupervised (fit on all rows, score all rows): AUROC",
                      ["table", "part", "shape", *args.adbench_detectors, "vaekit s"], arows)
    if tab is not None:
        tcols = list(tab["mean"])
        trows = [[n, *[f"{r[k]:.4f}" for k in tcols]] for n, r in tab["per_table"].items()]
        trows.append(["mean", *[f"{tab['mean'][k]:.4f}" for k in tcols]])
        C.print_table(f"Tabular AUROC (mean of {args.table_seeds} splits)", ["table", *tcols], trows)

    record = {"machine": C.machine_info(), "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "seconds": round(total, 1),
              "mnist": mnist, "flat_mnist": flat, "tables": tab, "adbench": adb}
    path = C.write_json(args.out, record)
    C.log(f"wrote {path} ({total / 60:.1f} min)")
    summary: dict[str, Any] = {}
    if mnist is not None:
        summary.update({f"{k}_mean_auroc": round(mnist["mean"][k], 4) for k in DETECTORS if k in mnist["mean"]})
        summary.update({f"vaekit_{r}_mean_auroc": round(mnist["mean"][f"rule_{r}"], 4) for r in RULES})
    if flat is not None:
        summary["flat_mnist_mean_auroc"] = round(flat["mean"]["vaekit"], 4)
        summary["flat_mnist_warned_without_image_shape"] = bool(flat["warning_without_image_shape"])
    if adb is not None:
        summary.update({"adbench_vaekit_mean_auroc": round(adb["all"]["vaekit"], 4),
                        "adbench_iforest_mean_auroc": round(adb["all"]["iforest"], 4),
                        "adbench_wins_vs_iforest": adb["all"]["wins_vs_iforest"],
                        "adbench_tables": adb["all"]["tables"],
                        **{f"adbench_{d}_mean_auroc": round(adb["all"][d], 4) for d in ("ecod", "knn", "pca")
                           if d in adb["all"]},
                        "adbench_held_out_vaekit_mean_auroc": round(adb["held_out"]["vaekit"], 4),
                        "adbench_held_out_iforest_mean_auroc": round(adb["held_out"]["iforest"], 4)})
    if tab is not None:
        summary.update({f"tabular_{k}_mean_auroc": round(v, 4) for k, v in tab["mean"].items()})
    summary.update({"digits": args.digits, "quick": bool(args.quick), "minutes": round(total / 60, 1)})
    C.emit_summary(summary)


if __name__ == "__main__":
    main()
