"""How the table default of VAEOutlierDetector was chosen (issue 20): candidate scores on ADBench's tables.

Every candidate is measured under ADBench's unsupervised protocol (fit on all rows, score all rows; tables
over 5,000 rows subsampled to 5,000, seed 0; one torch thread; the VAE trained for about 1,500 optimiser
steps with a Gaussian likelihood). ``--measure`` writes every candidate's scores per table to a JSON file;
``--combine`` reads it back and ranks the combinations (each term a robust z-score, (s - median) / IQR, summed)
by their mean AUROC minus IsolationForest's on the SELECTION tables only (``bench/anomaly.py``'s
``SELECTION_TABLES``); the held-out tables are printed beside, never used to rank.

Candidates: IsolationForest(random_state=0), PyOD's ECOD, k-NN (5th neighbour, standardised columns), the
VAE's IWAE log-likelihood with standardised or quantile-normal columns, the same after a trimmed second fit
(the 10% least likely rows left out), a second seed, k-NN and IsolationForest between posterior means.

    python bench/anomaly_select.py --measure bench/out/anomaly_select.json [--steps 1500]
    python bench/anomaly_select.py --combine bench/out/anomaly_select.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly import ADBENCH_DIR, SELECTION_TABLES, load_adbench  # noqa: E402


def knn_distance(z: np.ndarray, k: int = 5) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    d, _ = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
    return d[:, -1]


def measure(out: Path, steps: int, folder: Path) -> None:
    import warnings

    import torch
    from pyod.models.ecod import ECOD
    from sklearn.ensemble import IsolationForest
    from sklearn.preprocessing import QuantileTransformer, StandardScaler

    from vaekit import VAEOutlierDetector

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    record: dict[str, dict] = {}
    for name, (X, y) in load_adbench(folder, 5000).items():
        t0 = time.perf_counter()
        s: dict = {"y": y.tolist()}
        s["iforest"] = -IsolationForest(random_state=0).fit(X).score_samples(X)
        s["ecod"] = ECOD().fit(X).decision_scores_
        xs = StandardScaler().fit_transform(X)
        s["knn"] = knn_distance(xs)
        n = len(X)
        epochs = int(np.clip(np.ceil(steps / np.ceil(n / 128)), 10, 300))
        xq = QuantileTransformer(output_distribution="normal", n_quantiles=min(1000, n), random_state=0).fit_transform(X)
        preps = (("std", xs), ("q", xq)) if X.shape[1] < 500 else (("std", xs),)
        for prep, xp in preps:
            common = dict(epochs=epochs, likelihood="gaussian", max_time=None, scoring="iwae", trim=0.0)
            det = VAEOutlierDetector(seed=0, **common).fit(xp)
            s[f"{prep}_iwae"] = -det.score_samples(xp)
            z = det._latent_means(xp)
            s[f"{prep}_latif"] = -IsolationForest(random_state=0).fit(z).score_samples(z)
            s[f"{prep}_latknn"] = knn_distance(z)
            if prep == "std":
                keep = np.argsort(s["std_iwae"])[: int(0.9 * n)]
                s["std_trim"] = -VAEOutlierDetector(seed=0, **common).fit(xp[keep]).score_samples(xp)
                if X.shape[1] < 500:
                    s["std_iwae_s1"] = -VAEOutlierDetector(seed=1, **common).fit(xp).score_samples(xp)
        record[name] = {k: np.asarray(v).tolist() for k, v in s.items()}
        print(f"{name} {X.shape} {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record))


def robust_z(v, log: bool = False) -> np.ndarray:
    v = np.nan_to_num(np.asarray(v, dtype=np.float64), posinf=1e300, neginf=-1e300)
    if log:
        v = np.log(np.maximum(v, 0) + 1e-6)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    scale = q3 - q1 if q3 - q1 > 1e-12 else (v.std() if v.std() > 1e-12 else 1.0)
    return np.clip((v - med) / scale, -1e6, 1e6)


def combine(path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    scores = json.loads(path.read_text())
    names = list(scores)
    sel = [t for t in names if t in SELECTION_TABLES]
    held = [t for t in names if t not in SELECTION_TABLES]

    def term(t: str, key: str) -> np.ndarray:
        r = scores[t]
        if key == "ens":  # two seeds
            return robust_z(r["std_iwae"]) + robust_z(r.get("std_iwae_s1", r["std_iwae"]))
        return robust_z(r[key] if key in r else r[key.replace("q_", "std_")], log=key.endswith("knn"))

    iforest = {t: roc_auc_score(scores[t]["y"], scores[t]["iforest"]) for t in names}
    cands = ["std_iwae", "std_trim", "q_iwae", "knn", "std_latknn", "ecod", "std_latif", "ens"]
    rows = []
    for r in (1, 2, 3):
        for keys in itertools.combinations(cands, r):
            au = {t: roc_auc_score(scores[t]["y"], sum(term(t, k) for k in keys)) for t in names}
            rows.append((np.mean([au[t] - iforest[t] for t in sel]), sum(au[t] > iforest[t] for t in sel),
                         np.mean([au[t] for t in sel]), np.mean([au[t] for t in held]),
                         sum(au[t] > iforest[t] for t in held), " + ".join(keys)))
    rows.sort(key=lambda r: -r[0])
    print(f"IsolationForest: selection mean {np.mean([iforest[t] for t in sel]):.4f}, "
          f"held-out mean {np.mean([iforest[t] for t in held]):.4f}")
    print("ranked by the selection tables only: sel-IF  sel_wins  sel_mean | held_mean held_wins  terms")
    for r in rows[:20]:
        print("%+.4f  %2d  %.4f | %.4f  %2d  %s" % r)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--measure", type=Path, help="write candidate scores here")
    p.add_argument("--combine", type=Path, help="rank combinations from this file")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--adbench-dir", type=Path, default=ADBENCH_DIR)
    args = p.parse_args(argv)
    if args.measure:
        measure(args.measure, args.steps, args.adbench_dir)
    if args.combine:
        combine(args.combine)


if __name__ == "__main__":
    main()
