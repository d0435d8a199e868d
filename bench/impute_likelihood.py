"""Gaussian vs mixed likelihood for VAEImputer and VAETransformer on real mixed tables (issue 19: reuse of the
mixed likelihood "wherever it measures better").

On the training split (80%, at most 3,000 rows) of titanic, credit_data and churn: hide 20% of the observed
feature cells, impute them (numeric NRMSE, categorical accuracy), and embed the complete rows (5-fold logistic
regression of the target on the embedding). No test rows are used. Usage::

    python bench/impute_likelihood.py [--tables ../shared/data/tables/]

Prints one line per table and likelihood; the last line is one JSON object.
"""
import sys, time, json
import numpy as np, pandas as pd, torch
torch.set_num_threads(2)
from vaekit import VAEImputer, VAETransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from pathlib import Path
T = str(Path(sys.argv[sys.argv.index("--tables") + 1]) if "--tables" in sys.argv else Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tables") + "/"
out = {}
for name, target in [("titanic", "survived"), ("credit_data", "Status"), ("churn", "churn")]:
    df = pd.read_csv(T + name + ".csv")
    rng = np.random.default_rng(0)
    df = df.iloc[rng.permutation(len(df))[: int(0.8 * len(df))]].reset_index(drop=True)  # the train split only
    df = df.iloc[: min(len(df), 3000)]
    feats = df.drop(columns=[target])
    obs = feats.notna().to_numpy()
    drop = (rng.random(feats.shape) < 0.2) & obs
    masked = feats.mask(drop)
    for lik in ("gaussian", "mixed"):
        t = time.time()
        imp = VAEImputer(likelihood=lik, max_time=12, seed=0)
        filled = imp.fit_transform(masked)
        num_err, cat_acc = [], []
        for j, c in enumerate(feats.columns):
            m = drop[:, j]
            if not m.any():
                continue
            if feats[c].dtype == object:
                cat_acc.append(float((filled[c][m].astype(str).to_numpy() == feats[c][m].astype(str).to_numpy()).mean()))
            else:
                sd = feats[c].std()
                num_err.append(float(np.sqrt(np.mean(((filled[c][m].astype(float) - feats[c][m].astype(float)) / sd) ** 2))))
        # embedder: logistic regression on the embedding of the complete rows, 5-fold
        comp = feats.dropna()
        y = df.loc[comp.index, target]
        y = (y.astype(str) == sorted(y.astype(str).unique())[-1]) if y.dtype == object else (y > y.median())
        emb = VAETransformer(likelihood=lik, max_time=8, seed=0).fit(comp).transform(comp)
        acc = float(cross_val_score(LogisticRegression(max_iter=2000), emb, y, cv=5).mean())
        out[f"{name}/{lik}"] = {"numeric_nrmse": float(np.mean(num_err)) if num_err else None,
                                "categorical_acc": float(np.mean(cat_acc)) if cat_acc else None,
                                "embed_logreg_acc": acc, "s": time.time() - t}
        print(name, lik, out[f"{name}/{lik}"], flush=True)
print(json.dumps({k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()} for k, v in out.items()}))
