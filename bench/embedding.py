"""How good are vaekit's embeddings? k-NN and linear-probe accuracy, trustworthiness and wall time, vs PCA, UMAP, t-SNE.

Three data sets, all methods in the same run:

* **MNIST** (``../shared/data/mnist.npz``): every method is fitted on the 60,000 training digits and
  embeds the 10,000 test digits. k-NN (k=5) and the linear probe (standardise + LogisticRegression) are
  trained on the training embeddings and scored on the test embeddings. Trustworthiness (k=5,
  :func:`sklearn.manifold.trustworthiness`) compares the first 2,000 test digits' pixels with their
  embeddings. t-SNE has no ``transform``: it is fitted on the first ``--tsne-n`` test digits only (after
  PCA to 50 dimensions, as is usual) and its k-NN / probe accuracy is a 5-fold cross-validation within
  that embedding; it runs at 2 dimensions only (Barnes-Hut t-SNE supports at most 3).
* **wine** and **breast cancer**, two real labelled tables bundled with scikit-learn
  (``sklearn.datasets.load_wine``: 178 wines x 13 chemical measurements, 3 cultivars;
  ``load_breast_cancer``: 569 tumours x 30 cell-nucleus features, benign / malignant). Stratified 5-fold
  cross-validation: each method is fitted on four folds and embeds the fifth; accuracies and
  trustworthiness (against the standardised features) are means over the folds. PCA, UMAP and t-SNE see
  standardised features; vaekit standardises tables itself. t-SNE is fitted on the whole table and scored
  by 5-fold cross-validation within its embedding.

Methods: vaekit's VAE (``vaekit.VAETransformer``, posterior means), vaekit's deterministic autoencoder
(``VAETransformer(autoencoder=True)``), PCA, and UMAP / t-SNE where installed. Wall time is fit +
embedding of train and test (single process, ``torch`` threads at their default).

Peak memory of ``vaekit embed``: a small table model is trained on the breast-cancer table, 200,000 rows
are generated from it (``vaekit sample --npy``) and written as CSV, and ``vaekit embed RUN big.csv -o
z.{npy,csv,parquet}`` runs as a subprocess under ``/usr/bin/time -v``; "Maximum resident set size" is
reported for each output format (and for 20,000 rows, to show it does not grow with the data).

    python bench/embedding.py [--data PATH] [--minutes 15] [--epochs N] [--beta B] [--quick] [--skip-memory]
                              [--only mnist] [--dims 2,10] [--methods vae,ae,pca,umap] [--split valid] [--params JSON]

The vaekit models on MNIST take ``VAETransformer``'s defaults (only ``latent_dim`` and ``seed`` given) unless
``--epochs`` / ``--beta`` / ``--params`` say otherwise; ``knn_10d_defaults`` in the summary is the 10-D VAE's
k-NN accuracy of such a run on the test split. ``--split valid`` fits on the first 50,000 training digits and
scores on the last 10,000 (the split defaults were chosen on; the test digits are not read).

The table goes to stdout, progress to stderr, the full record to ``bench/out/embedding.json``, and the
last stdout line is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

K = 5  # neighbours for k-NN accuracy and trustworthiness
DIMS = (2, 10)


# ============================================================================================= measures
def knn_accuracy(z_train, y_train, z_test, y_test) -> float:
    from sklearn.neighbors import KNeighborsClassifier

    return float(KNeighborsClassifier(K).fit(z_train, y_train).score(z_test, y_test))


def probe_accuracy(z_train, y_train, z_test, y_test) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(probe.fit(z_train, y_train).score(z_test, y_test))


def cv_accuracies(z, y, seed: int) -> tuple[float, float]:
    """k-NN and probe accuracy by stratified 5-fold cross-validation within one embedding (t-SNE)."""
    from sklearn.model_selection import StratifiedKFold

    knn, probe = [], []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(z, y):
        knn.append(knn_accuracy(z[tr], y[tr], z[te], y[te]))
        probe.append(probe_accuracy(z[tr], y[tr], z[te], y[te]))
    return float(np.mean(knn)), float(np.mean(probe))


def trust(x, z) -> float:
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(np.asarray(x, dtype=np.float64).reshape(len(x), -1), z, n_neighbors=K))


# ============================================================================================= methods
def have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def vaekit_method(*, autoencoder: bool, args) -> Callable:
    """fit(x_train, dim) -> (transformer, fitted); the transformer's documented options only."""
    from vaekit import VAETransformer

    def make(dim: int, n_train: int, big: bool):
        params: dict[str, Any] = dict(latent_dim=dim, autoencoder=autoencoder, seed=args.seed)
        if big:  # MNIST: VAETransformer's defaults unless the flags give settings (tuning on --split valid)
            given = dict(epochs=args.epochs, beta=None if autoencoder else args.beta,
                         max_time=None if args.minutes is None else args.minutes * 60)
            params.update({k: v for k, v in given.items() if v is not None}, **args.params)
        elif args.table_epochs is not None:
            params.update(epochs=args.table_epochs)  # else VAETransformer's defaults ("auto")
        return VAETransformer(**params)

    return make


def run_transformer(make, dim, x_train, x_test, big: bool):
    t0 = time.perf_counter()
    est = make(dim, len(x_train), big)
    z_train = est.fit_transform(x_train)
    z_test = est.transform(x_test)
    info = {}
    if hasattr(est, "history_"):
        info = {"epochs": len(est.history_), "stop_reason": est.history_.stop_reason, "beta": est.beta,
                "train_loss": est.history_.rows[-1]["train_loss"]}
    return z_train, z_test, time.perf_counter() - t0, info


def run_pca(dim, x_train, x_test, seed):
    from sklearn.decomposition import PCA

    t0 = time.perf_counter()
    pca = PCA(n_components=dim, random_state=seed)
    z_train = pca.fit_transform(x_train)
    z_test = pca.transform(x_test)
    return z_train, z_test, time.perf_counter() - t0, {"explained_variance": float(pca.explained_variance_ratio_.sum())}


_UMAP_WARM = []


def warm_umap() -> None:
    """Compile UMAP's numba code once, untimed (it takes minutes on a loaded 2-core machine)."""
    if not _UMAP_WARM:
        import umap

        x = np.random.default_rng(0).normal(size=(300, 8))
        umap.UMAP(n_components=2, random_state=0, n_jobs=1).fit(x[:200]).transform(x[200:])
        _UMAP_WARM.append(True)


def run_umap(dim, x_train, x_test, seed):
    import umap

    warm_umap()
    t0 = time.perf_counter()
    reducer = umap.UMAP(n_components=dim, n_neighbors=15, random_state=seed, n_jobs=1)
    z_train = reducer.fit_transform(x_train)
    z_test = reducer.transform(x_test)
    return z_train, z_test, time.perf_counter() - t0, {"n_fit": len(x_train)}


def run_tsne(x, seed, pca_first: bool):
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    t0 = time.perf_counter()
    if pca_first and x.shape[1] > 50:
        x = PCA(50, random_state=seed).fit_transform(x)
    z = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30.0, (len(x) - 1) / 3)).fit_transform(x)
    return z, time.perf_counter() - t0


# ============================================================================================= MNIST
def bench_mnist(args, rows: list[dict]) -> None:
    d = C.load_mnist(args.data)
    if args.split == "valid":  # tuning: the last 10,000 training digits stand in for the test set
        d = {"x_train": d["x_train"][:50000], "y_train": d["y_train"][:50000],
             "x_test": d["x_train"][50000:], "y_test": d["y_train"][50000:]}
    if args.quick:
        d = {"x_train": d["x_train"][:3000], "y_train": d["y_train"][:3000],
             "x_test": d["x_test"][:1000], "y_test": d["y_test"][:1000]}
    xtr_img, ytr, xte_img, yte = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
    xtr = xtr_img.reshape(len(xtr_img), -1).astype(np.float32) / 255  # pixels in [0, 1] for PCA / UMAP / t-SNE
    xte = xte_img.reshape(len(xte_img), -1).astype(np.float32) / 255
    n_trust = min(2000, len(xte))
    C.log(f"MNIST: {len(xtr):,} train / {len(xte):,} test digits; raw-pixel k-NN for reference")
    t0 = time.perf_counter()
    raw_knn = knn_accuracy(xtr, ytr, xte, yte)
    rows.append(dict(data="mnist", method="raw pixels (784-D)", dim=784, knn=raw_knn, probe=None,
                     trustworthiness=1.0, seconds=time.perf_counter() - t0, protocol="fit on train, scored on test"))

    methods: list[tuple[str, Callable]] = [
        ("vaekit VAE", lambda dim: run_transformer(vaekit_method(autoencoder=False, args=args), dim, xtr_img, xte_img, True)),
        ("vaekit AE", lambda dim: run_transformer(vaekit_method(autoencoder=True, args=args), dim, xtr_img, xte_img, True)),
        ("PCA", lambda dim: run_pca(dim, xtr, xte, args.seed)),
    ]
    n_umap = min(args.umap_n, len(xtr))
    if have("umap") and not args.no_umap:
        methods.append(("UMAP", lambda dim: run_umap(dim, xtr[:n_umap], xte, args.seed)))
    tags = {"vaekit VAE": "vae", "vaekit AE": "ae", "PCA": "pca", "UMAP": "umap"}
    methods = [(name, run) for name, run in methods if tags[name] in args.methods]
    for dim in args.dims:
        for name, run in methods:
            C.log(f"MNIST {name} at {dim}-D ...")
            z_train, z_test, seconds, info = run(dim)
            y_fit = ytr[: len(z_train)]  # UMAP may be fitted on the first --umap-n training digits only
            protocol = "fit on train, scored on test"
            if len(z_train) < len(xtr):
                protocol = f"fit on the first {len(z_train):,} train digits (k-NN/probe trained on those), scored on test"
            row = dict(data="mnist", method=name, dim=dim, knn=knn_accuracy(z_train, y_fit, z_test, yte),
                       probe=probe_accuracy(z_train, y_fit, z_test, yte), trustworthiness=trust(xte[:n_trust], z_test[:n_trust]),
                       seconds=seconds, protocol=protocol, **info)
            C.log(f"  k-NN {row['knn']:.4f}  probe {row['probe']:.4f}  trust {row['trustworthiness']:.4f}  {seconds:.0f} s {info}")
            rows.append(row)
    if not args.no_tsne and 2 in args.dims:
        n = min(args.tsne_n, len(xte))
        C.log(f"MNIST t-SNE at 2-D on the first {n:,} test digits ...")
        z, seconds = run_tsne(xte[:n], args.seed, pca_first=True)
        knn, probe = cv_accuracies(z, yte[:n], args.seed)
        rows.append(dict(data="mnist", method="t-SNE", dim=2, knn=knn, probe=probe,
                         trustworthiness=trust(xte[: min(n, n_trust)], z[: min(n, n_trust)]), seconds=seconds,
                         protocol=f"fit on {n:,} test digits only (PCA-50 first); 5-fold CV within the embedding"))
        C.log(f"  k-NN {knn:.4f}  probe {probe:.4f}  {seconds:.0f} s")


# ============================================================================================= tables
def bench_table(name: str, loader, args, rows: list[dict]) -> None:
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    x, y = loader(return_X_y=True)
    x = np.asarray(x, dtype=np.float64)
    C.log(f"{name}: {x.shape[0]} rows x {x.shape[1]} columns, {len(set(y))} classes")
    folds = list(StratifiedKFold(5, shuffle=True, random_state=args.seed).split(x, y))

    def scaled(tr, te):
        s = StandardScaler().fit(x[tr])
        return s.transform(x[tr]), s.transform(x[te])

    methods: list[tuple[str, Callable]] = [
        ("raw features", None),
        ("vaekit VAE", lambda dim, tr, te: run_transformer(vaekit_method(autoencoder=False, args=args), dim, x[tr], x[te], False)),
        ("vaekit AE", lambda dim, tr, te: run_transformer(vaekit_method(autoencoder=True, args=args), dim, x[tr], x[te], False)),
        ("PCA", lambda dim, tr, te: run_pca(dim, *scaled(tr, te), args.seed)),
    ]
    if have("umap") and not args.no_umap:
        methods.append(("UMAP", lambda dim, tr, te: run_umap(dim, *scaled(tr, te), args.seed)))
    protocol = "stratified 5-fold CV: fit on 4 folds, scored on the 5th"
    for dim in DIMS:
        for method, run in methods:
            if run is None:
                if dim != DIMS[0]:
                    continue
                knn, probe = [], []
                for tr, te in folds:
                    x_train, x_test = scaled(tr, te)
                    knn.append(knn_accuracy(x_train, y[tr], x_test, y[te]))
                    probe.append(probe_accuracy(x_train, y[tr], x_test, y[te]))
                rows.append(dict(data=name, method=f"raw features ({x.shape[1]}-D, standardised)", dim=x.shape[1],
                                 knn=float(np.mean(knn)), probe=float(np.mean(probe)), trustworthiness=1.0, seconds=None,
                                 protocol=protocol))
                continue
            if dim >= x.shape[1] and method == "PCA":
                continue
            knn, probe, tw, secs = [], [], [], 0.0
            for tr, te in folds:
                z_train, z_test, seconds, _ = run(dim, tr, te)
                knn.append(knn_accuracy(z_train, y[tr], z_test, y[te]))
                probe.append(probe_accuracy(z_train, y[tr], z_test, y[te]))
                tw.append(trust(scaled(tr, te)[1], z_test))
                secs += seconds
            row = dict(data=name, method=method, dim=dim, knn=float(np.mean(knn)), probe=float(np.mean(probe)),
                       trustworthiness=float(np.mean(tw)), seconds=secs, protocol=protocol)
            C.log(f"  {method} {dim}-D: k-NN {row['knn']:.3f} probe {row['probe']:.3f} trust {row['trustworthiness']:.3f} {secs:.1f} s")
            rows.append(row)
    if not args.no_tsne:
        xs = StandardScaler().fit_transform(x)
        z, seconds = run_tsne(xs, args.seed, pca_first=False)
        knn, probe = cv_accuracies(z, y, args.seed)
        rows.append(dict(data=name, method="t-SNE", dim=2, knn=knn, probe=probe, trustworthiness=trust(xs, z),
                         seconds=seconds, protocol="fit on the whole table; 5-fold CV within the embedding"))


# ============================================================================================= memory
def max_rss_mib(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` under /usr/bin/time -v; return (max RSS MiB, seconds, stderr tail)."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if m is None:
        raise SystemExit("error: /usr/bin/time -v printed no 'Maximum resident set size'.")
    return int(m.group(1)) / 1024, seconds, proc.stderr


def bench_memory(args) -> dict:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    if not Path("/usr/bin/time").is_file():
        C.log("memory: /usr/bin/time not found; skipped")
        return {"skipped": "no /usr/bin/time"}
    vaekit_cli = [sys.executable, "-m", "vaekit"]
    n_big = 20_000 if args.quick else args.rows
    out: dict[str, Any] = {"rows": n_big, "runs": []}
    with tempfile.TemporaryDirectory(prefix="vaekit-embed-bench-") as tmp:
        tmp = Path(tmp)
        table = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
        table.to_csv(tmp / "cancer.csv", index=False)
        C.log("memory: training a small table model on breast cancer ...")
        subprocess.run([*vaekit_cli, "train", str(tmp / "cancer.csv"), "--out", str(tmp / "run"), "--epochs", "20",
                        "--latent-dim", "8", "--quiet"], check=True, capture_output=True)
        for n in sorted({n_big, 20_000}):
            C.log(f"memory: generating {n:,} rows from it ...")
            subprocess.run([*vaekit_cli, "sample", str(tmp / "run"), "-n", str(n), "--npy", "-o", str(tmp / "gen.npy")],
                           check=True, capture_output=True)
            csv = tmp / f"gen{n}.csv"
            pd.DataFrame(np.load(tmp / "gen.npy"), columns=table.columns).to_csv(csv, index=False)
            size = csv.stat().st_size / 2**20
            for suffix in (".npy", ".csv", ".parquet") if n == n_big else (".parquet",):
                target = tmp / f"z{n}{suffix}"
                rss, seconds, _ = max_rss_mib([*vaekit_cli, "embed", str(tmp / "run"), str(csv), "-o", str(target),
                                               "--quiet"])
                check = len(np.load(target)) if suffix == ".npy" else len(pd.read_csv(target)) if suffix == ".csv" \
                    else len(pd.read_parquet(target))
                if check != n:
                    raise SystemExit(f"error: {target.name} has {check} rows, expected {n}.")
                C.log(f"  {n:,} rows ({size:.0f} MiB CSV) -> {suffix}: max RSS {rss:.0f} MiB, {seconds:.1f} s")
                out["runs"].append({"rows": n, "input_mib": round(size, 1), "output": suffix,
                                    "max_rss_mib": round(rss, 1), "seconds": round(seconds, 1)})
    big = [r["max_rss_mib"] for r in out["runs"] if r["rows"] == n_big]
    out["max_rss_mib"] = max(big)
    out["under_1_gib"] = max(big) < 1024
    return out


# ============================================================================================= main
def fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=C.DEFAULT_MNIST, help="MNIST .npz (default ../shared/data/mnist.npz)")
    p.add_argument("--minutes", type=float, default=None,
                   help="wall-clock cap per vaekit model on MNIST (default none: the epochs decide)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per vaekit model on MNIST (default: VAETransformer's 'auto')")
    p.add_argument("--beta", type=float, default=None,
                   help="KL weight of the vaekit VAE on MNIST (default: VAETransformer's)")
    p.add_argument("--params", type=json.loads, default={},
                   help="JSON of more VAETransformer parameters for the vaekit models on MNIST (tune on --split valid)")
    p.add_argument("--split", choices=("test", "valid"), default="test",
                   help="valid: fit on the first 50,000 training digits, score on the last 10,000 (tuning)")
    p.add_argument("--dims", type=lambda t: tuple(int(v) for v in t.split(",")), default=DIMS,
                   help="embedding sizes (default 2,10)")
    p.add_argument("--methods", type=lambda t: tuple(t.split(",")), default=("vae", "ae", "pca", "umap"),
                   help="MNIST methods among vae,ae,pca,umap (default all)")
    p.add_argument("--tsne-n", type=int, default=3000, help="test digits t-SNE is fitted on (default 3000)")
    p.add_argument("--umap-n", type=int, default=20000,
                   help="training digits UMAP is fitted on (default 20000; UMAP on all 60,000 takes long on 2 cores)")
    p.add_argument("--table-epochs", type=int, default=None,
                   help="epochs of the vaekit models on the tables (default: VAETransformer's 'auto')")
    p.add_argument("--rows", type=int, default=200_000, help="rows for the `vaekit embed` memory test (default 200000)")
    p.add_argument("--quick", action="store_true", help="3,000/1,000 digits, 20,000 rows, 0.5-minute budgets: a smoke test")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--only", choices=("all", "mnist", "tables", "memory"), default="all")
    p.add_argument("--no-umap", action="store_true")
    p.add_argument("--no-tsne", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.quick:
        args.minutes, args.epochs, args.tsne_n = min(args.minutes or 0.5, 0.5), min(args.epochs or 3, 3), min(args.tsne_n, 1000)
        args.umap_n = min(args.umap_n, 3000)
        args.table_epochs = args.table_epochs or 5

    from sklearn.datasets import load_breast_cancer, load_wine

    started = time.perf_counter()
    rows: list[dict] = []
    if args.only in ("all", "mnist"):
        bench_mnist(args, rows)
    if args.only in ("all", "tables"):
        bench_table("wine", load_wine, args, rows)
        bench_table("breast_cancer", load_breast_cancer, args, rows)
    memory = bench_memory(args) if args.only in ("all", "memory") and not args.skip_memory else None

    if rows:
        C.print_table(
        "Embeddings: k-NN (k=5) and linear-probe accuracy, trustworthiness (k=5), wall time",
        ["data", "method", "dim", "k-NN acc", "probe acc", "trustworthiness", "seconds"],
        [[r["data"], r["method"], r["dim"], fmt(r["knn"]), fmt(r["probe"]), fmt(r["trustworthiness"]),
          "-" if r["seconds"] is None else f"{r['seconds']:.1f}"] for r in rows],
    )
    if memory and "runs" in memory:
        C.print_table("`vaekit embed` peak memory (/usr/bin/time -v)", ["rows", "CSV MiB", "output", "max RSS MiB", "seconds"],
                      [[f"{r['rows']:,}", r["input_mib"], r["output"], r["max_rss_mib"], r["seconds"]] for r in memory["runs"]])

    def get(data, method, dim, key="knn"):
        return next((r[key] for r in rows if r["data"] == data and r["method"] == method and r["dim"] == dim), None)

    summary: dict[str, Any] = {}
    if args.only in ("all", "mnist"):
        for dim in args.dims:
            for method, tag in (("vaekit VAE", "vae"), ("vaekit AE", "ae"), ("PCA", "pca"), ("UMAP", "umap")):
                v = get("mnist", method, dim)
                if v is not None:
                    summary[f"mnist_knn_{tag}_{dim}d"] = round(v, 4)
        if get("mnist", "t-SNE", 2) is not None:
            summary["mnist_knn_tsne_2d_test_cv"] = round(get("mnist", "t-SNE", 2), 4)
        vae10, pca10, vae2, pca2 = (get("mnist", m, d) for m, d in (("vaekit VAE", 10), ("PCA", 10), ("vaekit VAE", 2), ("PCA", 2)))
        summary["target_knn_10d_met"] = bool(vae10 is not None and vae10 >= 0.97 and (pca10 is None or vae10 > pca10))
        defaults = args.epochs is None and args.beta is None and not args.params and args.minutes is None
        if vae10 is not None and defaults and args.split == "test" and not args.quick:
            summary["knn_10d_defaults"] = round(vae10, 4)  # VAETransformer(latent_dim=10), nothing else given
        summary["vae_minus_pca_2d"] = None if vae2 is None or pca2 is None else round(vae2 - pca2, 4)
        if get("mnist", "UMAP", 2) is not None and vae2 is not None:
            summary["vae_minus_umap_2d"] = round(vae2 - get("mnist", "UMAP", 2), 4)
    if args.only in ("all", "tables"):
        for data in ("wine", "breast_cancer"):
            for dim in DIMS:
                v = get(data, "vaekit VAE", dim)
                if v is not None:
                    summary[f"{data}_knn_vae_{dim}d"] = round(v, 4)
    if memory and "runs" in memory:
        summary.update(embed_rows=memory["rows"], embed_max_rss_mib=memory["max_rss_mib"], embed_under_1_gib=memory["under_1_gib"])
    machine = C.machine_info()
    summary.update(minutes=args.minutes, epochs=args.epochs, beta=args.beta, params=args.params, split=args.split,
                   quick=args.quick,
                   total_minutes=round((time.perf_counter() - started) / 60, 1), cpu_count=machine["cpu_count"],
                   date=machine["date"])
    C.write_json("embedding.json", {"summary": summary, "rows": rows, "memory": memory, "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "machine": machine})
    C.emit_summary(summary)


if __name__ == "__main__":
    main()
