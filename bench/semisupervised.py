"""Semi-supervised MNIST with 100 labels: M2, M1+M2 and a supervised baseline, plus conditional samples.

The setting of Kingma et al. 2014 (Table 1, N = 100): the 60,000 MNIST training digits, of which 100
keep their labels (10 per class, chosen with a fixed seed per draw by ``Dataset.hide_labels``); test
error on the 10,000 test digits. In one run, for each of ``--draws`` label draws:

* **M2** — ``VAE.for_data(data, conditioning="semi_supervised")`` on the pixels: q(y|x), q(z|x,y) and
  p(x|y,z) MLPs with two 500-unit hidden layers, latent 50, Bernoulli likelihood with dynamic
  binarisation, trained with ``vaekit.fit``.
* **ADGM** — the same M2 with an auxiliary latent a (``auxiliary_dim=--adgm-dim``, default 100; Maaloe
  et al. 2016): q(a|x), q(y|a,x) and p(a|x,y,z) added to M2's nets, same budget (``--adgm-dim 0`` skips it).
* **M1+M2** — ``StackedVAE.on(m1)`` with vaekit's defaults: M2 (Gaussian likelihood, latent 10, two
  500-unit hidden layers) on the
  posterior means of M1, an unsupervised VAE (vaekit's grey-image preset with latent 50) trained once
  on the same 60,000 digits without labels (it sees no label, so one M1 serves every draw).
* **supervised** — the same classifier networks trained on the 100 labelled digits alone with
  cross-entropy (AdamW, early-stopped on nothing: a fixed number of steps): the pixel MLP of M2's
  q(y|x), and the MLP of M1+M2's q(y|z1) on M1's codes.

What a new user gets: ``vaekit train mnist5k --semi-supervised --labelled-per-class 10`` with every other
setting at its default (M1+M2 on grey images), run as a subprocess; its conditional samples are judged as
below (``cli_default_recognised``) and its q(y|x) scored on mnist5k's test split. ``--cli-only`` runs the
judge and this part alone.

Conditional generation: a reference classifier (a small CNN trained with all 60,000 labels; its test
accuracy is reported) labels 1,000 conditional samples (100 per class, decoder means) of each model of
the first draw; the figure is the fraction recognised as the requested digit.

The labelled/unlabelled mix of each M1+M2 batch (``TrainConfig.labelled_per_batch``) is measured with
``--stack-only --split valid --labelled-per-batch default,50,20`` (one M1, one stack per value and draw;
``--m1-cache DIR`` keeps M1 between runs).

    python bench/semisupervised.py [--data PATH] [--draws 3] [--m1-epochs 60] [--m2-epochs 10] [--cli-only]
                                   [--stack-epochs 30] [--threads 2] [--quick] [--stack-only]
                                   [--labelled-per-batch LIST] [--m1-cache DIR]

Table to stdout, progress to stderr, record to ``bench/out/semisupervised.json``; the last stdout line is
one JSON object (``m1m2_error_mean``, ``m2_error_mean``, ``supervised_error_mean``, ...).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import vaekit  # noqa: E402
from vaekit.model import VAE, StackedVAE  # noqa: E402
from vaekit.nets import build_encoder  # noqa: E402
from vaekit.tasks._estimator import ESTIMATOR_PRIOR  # noqa: E402


# ----------------------------------------------------------------------------------------- helpers
def train_m1(train, a, timings: dict):
    """M1: vaekit's grey-image VAE with latent ``--m1-latent``, ``--m1-epochs`` on every training digit
    without labels; read from / saved to ``--m1-cache`` (one folder per split and settings)."""
    cache = None
    if a.m1_cache is not None:
        cache = a.m1_cache / f"m1_{a.split}_{len(train)}_latent{a.m1_latent}_epochs{a.m1_epochs}"
        if (cache / "config.json").is_file():
            C.log(f"M1: reusing {cache}")
            timings["m1"] = 0.0
            return vaekit.load(cache)
    t0 = time.perf_counter()
    C.log(f"M1: VAE latent {a.m1_latent}, {a.m1_epochs} epochs")
    m1 = VAE.for_data(train, latent_dim=a.m1_latent, prior=ESTIMATOR_PRIOR)  # as vaekit train's M1
    train_cfg = vaekit.training.default_train_config(train.spec, epochs=a.m1_epochs, val_fraction=0.0, seed=0)
    unlabelled = vaekit.data.Dataset(train.x, None, train.spec)
    vaekit.fit(m1, unlabelled, train_cfg, progress=False)
    timings["m1"] = time.perf_counter() - t0
    C.log(f"  M1 trained in {timings['m1']:.0f} s")
    if cache is not None:
        vaekit.save(m1, cache, overwrite=True)
    return m1


def train_stack(m1, semi, a, draw: int, labelled_per_batch: int | None = None):
    """M1+M2 over ``m1``'s codes with the bench's stack recipe: ``--stack-epochs``, batch ``--batch-size``,
    lr 1e-3 cosine, no validation split; returns (model, seconds)."""
    t0 = time.perf_counter()
    overrides = {} if a.stack_latent is None else {"latent_dim": a.stack_latent}
    if a.stack_alpha is not None:
        overrides["classifier_weight"] = a.stack_alpha
    stacked = StackedVAE.on(m1, num_classes=10, **overrides)
    cfg = vaekit.training.TrainConfig(epochs=a.stack_epochs, batch_size=a.batch_size, lr=1e-3,
                                      lr_schedule="cosine", val_fraction=0.0, seed=draw,
                                      labelled_per_batch=labelled_per_batch)
    vaekit.fit(stacked, semi, cfg, progress=False)
    return stacked, time.perf_counter() - t0


def args_record(a) -> dict:
    """The command-line arguments as JSON values (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}


def per_batch_values(a) -> list[int | None]:
    if not a.labelled_per_batch:
        return [None]
    return [None if v.strip() in ("", "default", "none") else int(v) for v in a.labelled_per_batch.split(",")]


@torch.no_grad()
def error_rate(predict, x: torch.Tensor, y: torch.Tensor, batch: int = 2000) -> float:
    pred = torch.cat([predict(x[i:i + batch]) for i in range(0, len(x), batch)])
    return float((pred != y).float().mean())


def train_supervised(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, seed: int,
                     lr: float = 1e-3, weight_decay: float = 1e-4) -> nn.Module:
    """Full-batch cross-entropy training of ``net`` on the labelled examples only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in net.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    net.train()
    for _ in range(steps):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


class ReferenceCNN(nn.Module):
    """The judge of conditional samples: a small CNN trained on all 60,000 labelled digits."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


def train_reference(x: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int = 0) -> ReferenceCNN:
    torch.manual_seed(seed)
    net = ReferenceCNN()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def recognised(model, judge: nn.Module, n_per_class: int, seed: int) -> tuple[float, list[float]]:
    """Fraction of conditional samples (decoder means) the judge labels as the requested class."""
    g = torch.Generator().manual_seed(seed)
    want = torch.arange(10).repeat_interleave(n_per_class)
    x = model.sample(len(want), y=want, generator=g)
    got = judge(x).argmax(-1)
    per_class = [float((got[want == c] == c).float().mean()) for c in range(10)]
    return float((got == want).float().mean()), per_class


def train_m2(semi, a, draw: int, x_test, y_test, d: dict, *, aux: int = 0, tag: str = "m2"):
    """M2 on the pixels of ``semi`` (label draw ``draw``), or with ``aux`` > 0 an ADGM (M2 plus an auxiliary
    latent of that size); its test error and time go into ``d`` under ``tag``."""
    t0 = time.perf_counter()
    m2_over = {} if a.m2_alpha is None else {"classifier_weight": a.m2_alpha}
    m2 = VAE.for_data(semi, conditioning="semi_supervised", num_classes=10, hidden_dims=(500, 500),
                      latent_dim=50, auxiliary_dim=aux, **m2_over)
    cfg2 = vaekit.training.default_train_config(semi.spec, epochs=a.m2_epochs, batch_size=a.batch_size,
                                                val_fraction=0.0, seed=draw, lr=1e-3)
    vaekit.fit(m2, semi, cfg2, progress=False)
    d[f"{tag}_error"] = error_rate(m2.predict, x_test, y_test)
    d[f"{tag}_seconds"] = time.perf_counter() - t0
    d[f"{tag}_classifier_weight"] = m2.config.classifier_weight
    C.log(f"draw {draw}: {tag} error {d[f'{tag}_error']:.4f} ({d[f'{tag}_seconds']:.0f} s, "
          f"weight {m2.config.classifier_weight:g})")
    return m2


def cli_default(judge: nn.Module, threads: int | None, workdir: Path) -> dict:
    """``vaekit train mnist5k --semi-supervised --labelled-per-class 10`` with every other setting its default
    (what a new user types), then its conditional samples judged and its test error on mnist5k's test split."""
    import subprocess
    import tempfile

    from vaekit.tasks.semisupervised import label_effect

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "vaekit", "train", "mnist5k", "--out", str(run), "--semi-supervised",
               "--labelled-per-class", "10", "--quiet"] + (["--threads", str(threads)] if threads else [])
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"bench/semisupervised.py: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
        seconds = time.perf_counter() - t0
        model = vaekit.load(run).eval()
        rec, per_class = recognised(model, judge, 100, seed=0)
        test = vaekit.datasets.load("mnist5k", split="test")
        err = error_rate(model.predict, test.x, test.y)
        return {"command": " ".join(["vaekit", *cmd[3:]]), "seconds": seconds, "model": type(model).__name__,
                "recognised": rec, "recognised_per_class": per_class, "mnist5k_test_error": err,
                "label_effect": label_effect(model), "warnings": [l for l in done.stderr.splitlines() if "Warning" in l]}


def mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


# ----------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(C.DEFAULT_MNIST))
    p.add_argument("--draws", type=int, default=3, help="label draws (seeds 0..draws-1)")
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--m1-epochs", type=int, default=60)
    p.add_argument("--m1-latent", type=int, default=50)
    p.add_argument("--m2-epochs", type=int, default=10, help="epochs of M2 on pixels")
    p.add_argument("--stack-epochs", type=int, default=30, help="epochs of M2 on M1's codes")
    p.add_argument("--stack-latent", type=int, default=None, help="M2's latent_dim in M1+M2 (default: vaekit's)")
    p.add_argument("--stack-alpha", type=float, default=None, help="classifier_weight of M1+M2 (default: vaekit's)")
    p.add_argument("--m2-alpha", type=float, default=None, help="classifier_weight of M2 (default: vaekit's)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--supervised-steps", type=int, default=500)
    p.add_argument("--judge-epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--skip-m2", action="store_true", help="skip M2 on pixels (the slowest part)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    p.add_argument("--skip-cli", action="store_true", help="skip the CLI-defaults run on mnist5k")
    p.add_argument("--cli-only", action="store_true", help="only the judge and the CLI-defaults run on mnist5k")
    p.add_argument("--m2-only", action="store_true", help="only M2 on pixels, per draw (tuning its settings)")
    p.add_argument("--adgm-dim", type=int, default=100,
                   help="auxiliary latent size of the ADGM on pixels (M2 + a; Maaloe et al. 2016 use 100); 0 skips it")
    p.add_argument("--split", choices=("test", "valid"), default="test",
                   help="valid: train on the first 50,000 training digits, score on the last 10,000 (tuning)")
    p.add_argument("--stack-only", action="store_true",
                   help="only M1 and M1+M2, per draw and per --labelled-per-batch value (tuning the stack)")
    p.add_argument("--labelled-per-batch", default=None,
                   help="comma-separated TrainConfig.labelled_per_batch values of M1+M2 (default: vaekit's, "
                        "every label in every batch); --stack-only trains one M1+M2 per value")
    p.add_argument("--m1-cache", type=Path, default=None,
                   help="folder: reuse the M1 saved there for this split and settings, or save it there")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.quick:
        a.draws, a.m1_epochs, a.m2_epochs, a.stack_epochs, a.judge_epochs, a.supervised_steps = 2, 2, 1, 3, 1, 50
    started = time.perf_counter()
    arrays = C.load_mnist(a.data)
    if a.split == "valid":  # tuning: the last 10,000 training digits stand in for the test digits
        arrays = {"x_train": arrays["x_train"][:50000], "y_train": arrays["y_train"][:50000],
                  "x_test": arrays["x_train"][50000:], "y_test": arrays["y_train"][50000:]}
    if a.quick:
        arrays = C.subset_first(arrays, 6000, 2000)
    train = C.mnist_dataset(arrays["x_train"], arrays["y_train"], "mnist-train")
    test = C.mnist_dataset(arrays["x_test"], arrays["y_test"], "mnist-test")
    x_test, y_test = test.x, test.y
    timings: dict[str, float] = {}
    if a.m2_only:  # tuning M2 on the pixels: nothing else
        draws = []
        for draw in range(a.draws):
            d = {"seed": draw}
            semi = train.hide_labels(per_class=a.per_class, seed=draw)
            train_m2(semi, a, draw, x_test, y_test, d)
            if a.adgm_dim:
                train_m2(semi, a, draw, x_test, y_test, d, aux=a.adgm_dim, tag="adgm")
            draws.append(d)
        errors = [d["m2_error"] for d in draws]
        C.print_table(f"M2 (and ADGM) on pixels, {a.split} error with {a.per_class * 10} labels",
                      ["draw", "M2 error", "M2 s", "ADGM error", "ADGM s"],
                      [[d["seed"], d["m2_error"], d["m2_seconds"], d.get("adgm_error"), d.get("adgm_seconds")]
                       for d in draws])
        summary = {"m2_error_mean": mean_std(errors)[0], "m2_error_std": mean_std(errors)[1], "split": a.split,
                   "m2_alpha": a.m2_alpha, "m2_classifier_weight": draws[0]["m2_classifier_weight"],
                   "m2_epochs": a.m2_epochs, "minutes": (time.perf_counter() - started) / 60}
        if a.adgm_dim:
            summary["adgm_error_mean"] = mean_std([d["adgm_error"] for d in draws])[0]
            summary["adgm_dim"] = a.adgm_dim
        C.write_json(f"semisupervised_m2_{a.split}.json", dict(draws=draws, summary=summary, args=args_record(a)))
        C.emit_summary({k: (round(v, 5) if isinstance(v, float) else v) for k, v in summary.items()})
        return 0

    if a.stack_only:  # tuning M1+M2: one M1, then one stack per draw and labelled-per-batch value
        m1 = train_m1(train, a, timings)
        values, draws = per_batch_values(a), []
        for draw in range(a.draws):
            semi = train.hide_labels(per_class=a.per_class, seed=draw)
            for v in values:
                stacked, seconds = train_stack(m1, semi, a, draw, v)
                err = error_rate(stacked.predict, x_test, y_test)
                n_lab = int((semi.y >= 0).sum())
                used = min(n_lab, a.batch_size) if v is None else v
                draws.append({"seed": draw, "labelled_per_batch": v, "labelled_per_batch_used": used,
                              "m1m2_error": err, "m1m2_seconds": seconds})
                C.log(f"draw {draw}, {used} labelled per batch{' (default)' if v is None else ''}: M1+M2 "
                      f"{a.split} error {err:.4f} ({seconds:.0f} s)")
        by_value = {}
        for v in values:
            errs = [d["m1m2_error"] for d in draws if d["labelled_per_batch"] == v]
            by_value["default" if v is None else str(v)] = mean_std(errs)[0]
        C.print_table(f"M1+M2 {a.split} error with {a.per_class * 10} labels, per labelled examples per batch "
                      f"(batch {a.batch_size} + these)",
                      ["draw", "labelled per batch", "error", "seconds"],
                      [[d["seed"], d["labelled_per_batch_used"], f"{100 * d['m1m2_error']:.2f}%", f"{d['m1m2_seconds']:.0f}"]
                       for d in draws])
        summary = {"split": a.split, "draws": a.draws, "m1m2_error_by_labelled_per_batch": by_value,
                   "m1_seconds": timings["m1"], "minutes": (time.perf_counter() - started) / 60}
        C.write_json(f"semisupervised_stack_{a.split}.json",
                     dict(draws=draws, summary=summary, args=args_record(a),
                          machine=C.machine_info()))
        C.emit_summary(summary)
        return 0

    # ---- the judge of conditional samples
    t0 = time.perf_counter()
    C.log(f"reference CNN: {a.judge_epochs} epochs on {len(train):,} labelled digits")
    judge = train_reference(train.x, train.y, epochs=a.judge_epochs)
    judge_error = error_rate(lambda x: judge(x).argmax(-1), x_test, y_test)
    timings["judge"] = time.perf_counter() - t0
    C.log(f"  reference CNN test error {judge_error:.4f}")

    # ---- what a new user gets: the CLI's defaults on mnist5k
    cli = None
    if not a.skip_cli:
        C.log("CLI defaults: vaekit train mnist5k --semi-supervised --labelled-per-class 10")
        C.OUT_DIR.mkdir(parents=True, exist_ok=True)
        cli = cli_default(judge, a.threads, C.OUT_DIR)
        timings["cli_default"] = cli["seconds"]
        C.log(f"  {cli['model']} in {cli['seconds']:.0f} s: samples recognised {cli['recognised']:.3f}, mnist5k test "
              f"error {cli['mnist5k_test_error']:.4f}")
    if a.cli_only:
        if cli is None:
            raise SystemExit("bench/semisupervised.py: --cli-only with --skip-cli runs nothing")
        C.print_table("CLI defaults on mnist5k (10 labels per class)", ["model", "recognised", "mnist5k test error",
                      "seconds"], [[cli["model"], cli["recognised"], cli["mnist5k_test_error"], cli["seconds"]]])
        summary = {"cli_default_recognised": cli["recognised"], "cli_default_mnist5k_test_error":
                   cli["mnist5k_test_error"], "judge_test_error": judge_error,
                   "minutes": (time.perf_counter() - started) / 60}
        C.write_json("semisupervised_cli.json", dict(cli=cli, summary=summary, args=args_record(a), machine=C.machine_info()))
        C.emit_summary({k: (round(v, 5) if isinstance(v, float) else v) for k, v in summary.items()})
        return 0

    # ---- M1: unsupervised VAE on all training digits (no labels involved)
    m1 = train_m1(train, a, timings)
    with torch.no_grad():
        codes_train = torch.cat([m1.embed(train.x[i:i + 5000]) for i in range(0, len(train), 5000)])

    rows, record = [], {"draws": []}
    for draw in range(a.draws):
        semi = train.hide_labels(per_class=a.per_class, seed=draw)
        lab = torch.nonzero(semi.y >= 0)[:, 0]
        d: dict = {"seed": draw, "n_labelled": len(lab)}
        # ---- supervised baselines: the same classifier networks, 100 labels only
        t0 = time.perf_counter()
        pix_cfg = VAE.for_data(train, conditioning="semi_supervised", num_classes=10, hidden_dims=(500, 500)).config
        pix_net = train_supervised(build_encoder(pix_cfg, 10), train.x[lab], train.y[lab],
                                   steps=a.supervised_steps, seed=draw)
        d["supervised_error"] = error_rate(lambda x: pix_net(x).argmax(-1), x_test, y_test)
        code_cfg = StackedVAE.on(m1, num_classes=10).config
        code_net = train_supervised(build_encoder(code_cfg, 10), codes_train[lab], train.y[lab],
                                    steps=a.supervised_steps, seed=draw)
        d["supervised_m1_codes_error"] = error_rate(lambda x: code_net(m1.embed(x)).argmax(-1), x_test, y_test)
        d["supervised_seconds"] = time.perf_counter() - t0
        C.log(f"draw {draw}: supervised error {d['supervised_error']:.4f} (pixels), "
              f"{d['supervised_m1_codes_error']:.4f} (M1 codes)")
        # ---- M1+M2
        stacked, d["m1m2_seconds"] = train_stack(m1, semi, a, draw, per_batch_values(a)[0])
        d["m1m2_error"] = error_rate(stacked.predict, x_test, y_test)
        C.log(f"draw {draw}: M1+M2 error {d['m1m2_error']:.4f} ({d['m1m2_seconds']:.0f} s)")
        # ---- M2 on pixels, and the ADGM (M2 plus an auxiliary latent) with the same nets and budget
        if not a.skip_m2:
            m2 = train_m2(semi, a, draw, x_test, y_test, d)
        if a.adgm_dim:
            train_m2(semi, a, draw, x_test, y_test, d, aux=a.adgm_dim, tag="adgm")
        # ---- conditional samples (first draw)
        if draw == 0:
            d["m1m2_recognised"], d["m1m2_recognised_per_class"] = recognised(stacked, judge, 100, seed=0)
            C.log(f"  M1+M2 conditional samples recognised: {d['m1m2_recognised']:.3f}")
            if not a.skip_m2:
                d["m2_recognised"], d["m2_recognised_per_class"] = recognised(m2, judge, 100, seed=0)
                C.log(f"  M2 conditional samples recognised: {d['m2_recognised']:.3f}")
        record["draws"].append(d)
        rows.append([draw, d["supervised_error"], d["supervised_m1_codes_error"], d.get("m2_error"),
                     d["m1m2_error"]])

    summary: dict = {}
    for key in ("supervised_error", "supervised_m1_codes_error", "m2_error", "adgm_error", "m1m2_error"):
        vals = [d[key] for d in record["draws"] if key in d]
        if vals:
            summary[f"{key}_mean"], summary[f"{key}_std"] = mean_std(vals)
            summary[f"{key}_min"], summary[f"{key}_max"] = min(vals), max(vals)
    first = record["draws"][0]
    summary["m1m2_recognised"] = first["m1m2_recognised"]
    if "m2_recognised" in first:
        summary["m2_recognised"] = first["m2_recognised"]
    summary["judge_test_error"] = judge_error
    summary["best_error_mean"] = min(v for k, v in summary.items()
                                     if k in ("m2_error_mean", "adgm_error_mean", "m1m2_error_mean"))
    if cli is not None:
        summary["cli_default_recognised"] = cli["recognised"]
        summary["cli_default_mnist5k_test_error"] = cli["mnist5k_test_error"]
        record["cli_default"] = cli
    summary["minutes"] = (time.perf_counter() - started) / 60
    summary["draws"] = a.draws
    summary["targets_met"] = bool(summary["m1m2_error_mean"] <= 0.05 and first["m1m2_recognised"] >= 0.9)
    rows.append(["mean", summary["supervised_error_mean"], summary["supervised_m1_codes_error_mean"],
                 summary.get("m2_error_mean"), summary["m1m2_error_mean"]])
    rows.append(["std", summary["supervised_error_std"], summary["supervised_m1_codes_error_std"],
                 summary.get("m2_error_std"), summary["m1m2_error_std"]])
    C.print_table(f"MNIST test error with {a.per_class * 10} labels", [
        "draw", "supervised (pixels)", "supervised (M1 codes)", "M2", "M1+M2"], rows)
    C.print_table("Conditional samples recognised by the reference CNN (1,000 per model, draw 0)",
                  ["model", "recognised"],
                  [["M1+M2", first["m1m2_recognised"]]] + ([["M2", first["m2_recognised"]]]
                                                           if "m2_recognised" in first else []))
    record.update(summary=summary, args=args_record(a), timings=timings, machine=C.machine_info())
    C.write_json("semisupervised.json", record)
    C.emit_summary({k: (round(v, 5) if isinstance(v, float) else v) for k, v in summary.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
