"""Test log-likelihood on dynamically binarised MNIST: vaekit's default image preset vs the classic reference.

Both models train for the same wall-clock budget on the 60,000 MNIST training digits, redrawing a binary
image x ~ Bernoulli(grey values) for every batch (dynamic binarisation, Salakhutdinov & Murray 2008), and are
scored on the 10,000 test digits binarised once with seed 0 (``vaekit.evaluation.binarize_once``):

* **vaekit**: ``vaekit.VAE.for_data(train)`` with no overrides (on grey images MLP 512-256, latent 32,
  Bernoulli and, since 2026-12-08, a learned 50-component mixture prior), trained with the documented training preset
  ``vaekit.training.default_train_config(train.spec, max_time=budget, epochs=10_000)`` (the cosine learning
  rate anneals over the time budget; the preset holds out 10% for validation, so vaekit fits 54,000 digits);
* **reference**: the 784-400-20 ReLU VAE of ``pytorch/examples`` in plain PyTorch (``DataLoader``, Adam
  lr 1e-3, batch 128, summed BCE + analytic KL), stopped after the epoch in which the budget runs out (the
  same rule as ``max_time``).

Reported per model: epochs done, training minutes, test negative ELBO (one z per image, analytic KL), test
NLL = -IWAE_k (Burda et al. 2016; a stochastic upper bound on -log p(x) that tightens with k) and bits/dim.

Usage::

    python bench/mnist_nll.py --minutes 10                 # the acceptance run (k=1000)
    python bench/mnist_nll.py --minutes 2 --k 100          # a quick comparison
    python bench/mnist_nll.py --quick --minutes 0.5 --k 10  # smoke test on 6,000 / 1,000 images
    python bench/mnist_nll.py --presets fast,default,best --curve 10,20,40,60   # NLL-vs-minutes curves

With ``--presets`` each named preset trains with its whole recipe (``VAE.for_data(train, preset=p)`` and
``default_train_config(spec, preset=p, max_time=...)``, as ``vaekit train --preset p --max-time`` does).
With ``--curve`` the budget is the last mark, and each model (presets and reference) is scored at every
mark: its weights are copied at the end of the epoch in which its training time passes the mark (the
last mark scores what training returns) and all copies are scored after training, so scoring never eats
the budget. The learning rate anneals over the whole budget, so an early mark is a model mid-schedule,
not what a run with that budget alone would reach (``--minutes M`` measures that).

The full curve (four 60-minute trainings, plus scoring) is over four hours on 2 cores, more than one
session: ``--parts DIR`` keeps each finished model's result in DIR and reuses it on the next call with
the same flags, so the run can be completed one model per session (each part records its date and machine):

    python bench/mnist_nll.py --presets fast,default,best --curve 10,20,40,60 --parts bench/parts/mnist_nll_curve

The last line of stdout is one JSON object; the full record goes to ``bench/out/mnist_nll.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import vaekit  # noqa: E402
from vaekit.evaluation import binarize_once  # noqa: E402
from vaekit.training import default_train_config  # noqa: E402
from vaekit.tasks.visualize import samples_picture, save_picture  # noqa: E402

TARGET_NLL = 90.0  # nats, the acceptance target at --minutes 10

REF_BATCH_SIZE = 128
REF_LR = 1e-3
PROBE_IMAGES = 200


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=C.DEFAULT_MNIST, help=f"MNIST .npz (default: {C.DEFAULT_MNIST})")
    p.add_argument("--minutes", type=float, default=10.0, help="training wall-clock budget per model (default 10)")
    p.add_argument("--k", type=int, default=1000, help="importance samples for the test NLL (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="training seed (the test set is always binarised with seed 0)")
    p.add_argument("--eval-batch-size", type=int, default=100, help="test images per IWAE batch (default 100)")
    p.add_argument("--eval-budget-minutes", type=float, default=8.0,
                   help="warn when the extrapolated evaluation time per model exceeds this (default 8)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads for both models (default: torch's default); 1 avoids the "
                        "intra-op threads stalling each other on a busy shared machine")
    p.add_argument("--only", choices=("both", "vaekit", "reference"), default="both", help="models to run")
    p.add_argument("--priors", default=None,
                   help="comma-separated priors of the vaekit preset to train, one after another in this run, each "
                        "with the same budget (default: the preset's own; e.g. standard_normal,mixture,vamp)")
    p.add_argument("--presets", default=None,
                   help="comma-separated presets (fast,default,best) to train with their whole recipes, each with "
                        "the same budget; replaces --priors")
    p.add_argument("--curve", default=None,
                   help="comma-separated minutes (e.g. 10,20,40,60): score every model at each; the budget is the "
                        "last (overrides --minutes)")
    p.add_argument("--parts", type=Path, default=None,
                   help="folder of per-model results: a model whose result is already there is not trained again, "
                        "each new one is written there when done (so the ~4-hour preset curve can span sessions; "
                        "every part records its own date and machine)")
    p.add_argument("--samples", type=Path, default=None,
                   help="folder: write the grid `vaekit sample` writes (64 decoder means, seed 0) for each vaekit model there, "
                        "as samples_<model>.png")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default=None,
                   help="arithmetic of vaekit's training forward pass (TrainConfig.precision; default: the preset's); "
                        "scoring is always float32")
    p.add_argument("--batch-size", type=int, default=None,
                   help="override the preset's batch size (for choosing a recipe on validation; default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="override the preset's peak learning rate (default: the preset's)")
    p.add_argument("--quick", action="store_true",
                   help="6,000 training and 1,000 test images: a smoke test, not a measurement")
    args = p.parse_args(argv)
    args.marks = None
    if args.curve:
        try:
            args.marks = sorted(float(m) for m in args.curve.split(",") if m.strip())
        except ValueError:
            p.error(f"--curve takes comma-separated minutes like 10,20,40,60; got {args.curve!r}")
        if not args.marks or args.marks[0] <= 0:
            p.error("--curve minutes must be > 0")
        args.minutes = args.marks[-1]
    if args.minutes <= 0:
        p.error("--minutes must be > 0")
    if args.k < 1:
        p.error("--k must be >= 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    return args


class EvalProgress:
    """``progress(done, total)`` callback: a line on stderr about every 10% with the time left."""

    def __init__(self, label: str):
        self.label, self.t0, self.next = label, time.perf_counter(), 0.1

    def __call__(self, done: int, total: int) -> None:
        if done / total + 1e-9 >= self.next or done == total:
            el = time.perf_counter() - self.t0
            C.log(f"  {self.label}: {done:>6,}/{total:,} test images, {el / 60:.1f} min, "
                  f"~{el / done * (total - done) / 60:.1f} min left")
            while self.next <= done / total + 1e-9:
                self.next += 0.1


def probe_eval_minutes(label: str, run_eval, n_total: int, k: int, budget: float) -> float:
    """Time the evaluation on a few images with a smaller k and extrapolate to the full set and k."""
    k_small = max(1, k // 10)
    t0 = time.perf_counter()
    run_eval(k_small, PROBE_IMAGES)
    probe = time.perf_counter() - t0
    est = probe * (n_total / PROBE_IMAGES) * (k / k_small) / 60
    C.log(f"{label}: {PROBE_IMAGES} images with k={k_small} took {probe:.1f} s -> "
          f"~{est:.1f} min for {n_total:,} images with k={k}")
    if est > budget:
        C.log(f"warning: {label} evaluation is expected to take ~{est:.1f} min, more than the "
              f"{budget:g} min budget (lower --k or run on a quieter machine)")
    return est


class Snapshots(vaekit.Callback):
    """Copies of the weights at the end of the epoch in which training time passes each mark (seconds)
    but the last (the last mark scores what training returns)."""

    def __init__(self, model, marks_s):
        self.model, self.marks, self.saved = model, list(marks_s[:-1]), {}

    def on_epoch_end(self, state, row):
        self.take(state.elapsed)

    def take(self, elapsed: float) -> None:
        while self.marks and elapsed >= self.marks[0]:
            self.saved[self.marks.pop(0)] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def score_marks(label, model, saved, marks_s, run_eval, args) -> dict:
    """{minutes: test NLL} at each mark but the last (scored by the caller on the final weights); a mark
    training never reached (it stopped early) gets the final weights. The model ends holding them again."""
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    curve = {}
    for m in marks_s[:-1]:
        model.load_state_dict(saved.get(m, final))
        curve[f"{m / 60:g}"] = run_eval(args.k, progress=EvalProgress(f"{label} at {m / 60:g} min IWAE-{args.k}"))["nll"]
        C.log(f"{label}: {m / 60:g} min -> test NLL {curve[f'{m / 60:g}']:.2f}")
    model.load_state_dict(final)
    return curve


def run_vaekit(train, test_bin, args, prior: str | None = None, preset: str | None = None) -> dict:
    # a preset's whole recipe (model and training); or the default preset with a learned prior as the one
    # override (same net, likelihood and budget)
    if preset is not None:
        model = vaekit.VAE.for_data(train, preset=preset)
    else:
        model = vaekit.VAE.for_data(train) if prior is None else vaekit.VAE.for_data(train, prior=prior)
    # The budget is max_time; epochs only has to be large enough never to stop training first.
    # The documented preset: for grey images AdamW lr 3e-3, batch 128, dynamic binarisation, cosine decay
    # that follows the max_time budget, 10% validation split.
    cfg = default_train_config(train.spec, preset=preset or "default", max_time=args.minutes * 60, epochs=10_000,
                               seed=args.seed, **{k: v for k, v in (("precision", args.precision), ("batch_size", args.batch_size),
                                                                  ("lr", args.lr)) if v is not None})
    what = f"preset {preset}" if preset is not None else f"{model.config.prior} prior"
    C.log(f"vaekit ({what}): {model.config.hidden_dims} latent {model.config.latent_dim} {model.config.activation} "
          f"{model.config.likelihood} prior {model.config.prior}, {sum(p.numel() for p in model.parameters()):,} "
          f"parameters; training preset default_train_config(spec): {cfg.to_dict()}")
    marks_s = [m * 60 for m in args.marks] if args.marks else None
    snaps = Snapshots(model, marks_s) if marks_s else None
    t0 = time.perf_counter()
    history = vaekit.fit(model, train, cfg, progress=False, callbacks=[snaps] if snaps else ())
    train_s = time.perf_counter() - t0
    last = history.rows[-1]
    C.log(f"vaekit: {len(history)} epochs in {train_s / 60:.2f} min ({history.stop_reason}); last train loss "
          f"{last['train_loss']:.2f}" + (f", val loss {last['val_loss']:.2f}" if last["val_loss"] is not None else ""))

    def run_eval(k, n=None, progress=None):
        data = test_bin if n is None else test_bin.subset(range(min(n, len(test_bin))))
        return vaekit.evaluate(model, data, k=k, batch_size=args.eval_batch_size, seed=0, progress=progress)

    est = probe_eval_minutes("vaekit", run_eval, len(test_bin), args.k, args.eval_budget_minutes)
    curve = score_marks(f"vaekit ({what})", model, snaps.saved, marks_s, run_eval, args) if snaps else None
    t0 = time.perf_counter()
    ev = run_eval(args.k, progress=EvalProgress(f"vaekit IWAE-{args.k}"))
    eval_s = time.perf_counter() - t0
    if curve is not None:
        curve[f"{args.marks[-1]:g}"] = ev["nll"]
    samples_png = None
    if args.samples is not None:
        samples_png = args.samples / f"samples_{preset or prior}.png"
        # the grid `vaekit sample` writes: 64 draws z ~ p(z), decoder means, seed 0 (the same draws for every model)
        save_picture(samples_picture(model, 64, seed=0), samples_png)
        C.log(f"vaekit ({what}): 64 samples -> {samples_png}")
    return {
        "preset": preset, "curve": curve, "samples_png": None if samples_png is None else str(samples_png),
        "model_config": model.config.to_dict(), "train_config": history.train_config.to_dict(),  # precision as resolved
        "parameters": sum(p.numel() for p in model.parameters()),
        "n_fit": len(train) - round(cfg.val_fraction * len(train)), "n_val": round(cfg.val_fraction * len(train)),
        "epochs": len(history), "train_minutes": train_s / 60, "stop_reason": history.stop_reason,
        "last_lr": last["lr"],
        "best_epoch": history.best_epoch, "last_train_loss": last["train_loss"], "last_val_loss": last["val_loss"],
        "test_neg_elbo": ev["neg_elbo"], "test_nll": ev["nll"], "bits_per_dim": C.bits_per_dim(ev["nll"]),
        "active_units": ev["active_units"], "eval_minutes": eval_s / 60, "eval_minutes_estimated": est,
        "history": history.rows,
    }


def run_reference(x_train: torch.Tensor, test_bin, args) -> dict:
    torch.manual_seed(args.seed)
    model = C.ReferenceVAE()
    opt = torch.optim.Adam(model.parameters(), lr=REF_LR)
    loader = C.reference_loader(x_train, REF_BATCH_SIZE)
    budget = args.minutes * 60
    C.log(f"reference: 784-400-20 ReLU, {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"Adam lr {REF_LR}, batch {REF_BATCH_SIZE}, dynamic binarisation")
    marks_s = [m * 60 for m in args.marks] if args.marks else None
    snaps = Snapshots(model, marks_s) if marks_s else None
    t0 = time.perf_counter()
    epochs, losses = 0, []
    while True:  # stop after the epoch in which the budget runs out, as vaekit's max_time does
        losses.append(C.reference_train_epoch(model, opt, loader, binarize=True))
        epochs += 1
        if snaps:
            snaps.take(time.perf_counter() - t0)
        if time.perf_counter() - t0 >= budget:
            break
    train_s = time.perf_counter() - t0
    C.log(f"reference: {epochs} epochs in {train_s / 60:.2f} min; last train loss {losses[-1]:.2f}")
    x_test = test_bin.get(slice(None))

    def run_eval(k, n=None, progress=None):
        x = x_test if n is None else x_test[:n]
        return C.reference_evaluate(model, x, k=k, batch_size=args.eval_batch_size, seed=0, progress=progress)

    est = probe_eval_minutes("reference", run_eval, len(x_test), args.k, args.eval_budget_minutes)
    curve = score_marks("reference", model, snaps.saved, marks_s, run_eval, args) if snaps else None
    t0 = time.perf_counter()
    ev = run_eval(args.k, progress=EvalProgress(f"reference IWAE-{args.k}"))
    eval_s = time.perf_counter() - t0
    if curve is not None:
        curve[f"{args.marks[-1]:g}"] = ev["nll"]
    return {
        "curve": curve,
        "parameters": sum(p.numel() for p in model.parameters()), "epochs": epochs, "train_minutes": train_s / 60,
        "last_train_loss": losses[-1], "train_loss_per_epoch": losses,
        "test_neg_elbo": ev["neg_elbo"], "test_nll": ev["nll"], "bits_per_dim": C.bits_per_dim(ev["nll"]),
        "eval_minutes": eval_s / 60, "eval_minutes_estimated": est,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    arrays = C.load_mnist(args.data)
    if args.quick:
        arrays = C.subset_first(arrays, 6000, 1000)
    train = C.mnist_dataset(arrays["x_train"], arrays["y_train"], name="mnist-train")
    test = C.mnist_dataset(arrays["x_test"], arrays["y_test"], name="mnist-test")
    test_bin = binarize_once(test, seed=0)
    C.log(f"{len(train):,} training images (dynamically binarised), {len(test_bin):,} test images (binarised "
          f"once, seed 0); budget {args.minutes:g} min per model, k={args.k}")

    results = {}
    # None: the default preset's own prior (the grey-image preset's learned mixture)
    priors = [p.strip() for p in args.priors.split(",") if p.strip()] if args.priors else [None]
    presets = [p.strip() for p in args.presets.split(",") if p.strip()] if args.presets else []

    def part(name: str, run):
        """One model's result: read from --parts when it is there, else computed (and written there)."""
        over = "".join(f"_{k}{v}" for k, v in (("", args.precision), ("b", args.batch_size), ("lr", args.lr)) if v)
        stem = name.replace(":", "_").replace("[", "_").strip("]") + (over if name != "reference" else "")
        path = None if args.parts is None else args.parts / (stem + ".json")
        if path is not None and path.is_file():
            got = json.loads(path.read_text())
            marks, wanted = sorted(float(m) for m in (got.get("curve") or {})), args.marks or []
            if marks != wanted or got.get("k", args.k) != args.k:
                raise SystemExit(f"{path}: that part was measured with curve marks {marks or 'none'} and k="
                                 f"{got.get('k', '?')}, this run asks for {wanted or 'none'} and k={args.k}; "
                                 "use another --parts folder or the same flags")
            C.log(f"{name}: reusing {path}")
            results[name] = got
            return
        results[name] = run()
        if path is not None:
            from vaekit.io import write_json

            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, {**results[name], "k": args.k, "part_machine": C.machine_info()})

    if args.only in ("both", "vaekit"):
        if presets:
            for preset in presets:
                part(f"preset:{preset}", lambda: run_vaekit(train, test_bin, args, preset=preset))
        else:
            for prior in priors:
                part("vaekit" if prior == priors[0] else f"vaekit[{prior}]",
                     lambda: run_vaekit(train, test_bin, args, prior))
    if args.only in ("both", "reference"):
        part("reference", lambda: run_reference(train.get(slice(None)), test_bin, args))

    info = C.machine_info()
    rows = []
    labels = {"vaekit": f"vaekit preset ({priors[0] or 'its own'} prior)", "reference": "reference 784-400-20",
              **{f"preset:{p}": f"vaekit --preset {p}" for p in presets}}
    for name, r in results.items():
        rows.append([labels.get(name, name.replace("vaekit[", "vaekit preset (").replace("]", " prior)")), f"{r['parameters']:,}", r["epochs"], r["train_minutes"], r["test_neg_elbo"],
                     r["test_nll"], r["bits_per_dim"], r["eval_minutes"]])
    C.print_table(
        f"MNIST (dynamically binarised) test NLL, {len(test_bin):,} test images, k={args.k}, "
        f"{args.minutes:g} min training budget ({info['cpu_count']} CPUs, torch {info['torch_version']})",
        ["model", "params", "train epochs", "train min", "test neg-ELBO", f"test NLL (k={args.k})", "bits/dim",
         "eval min"], rows)

    if args.marks:
        C.print_table(f"test NLL (k={args.k}) at each mark of one {args.minutes:g}-minute run per model",
                      ["model", *[f"{m:g} min" for m in args.marks]],
                      [[labels.get(n, n), *[r["curve"][f"{m:g}"] for m in args.marks]] for n, r in results.items()])
    v, r = results.get("vaekit", results.get("preset:default")), results.get("reference")
    summary = {
        "benchmark": "mnist_nll",
        "vaekit_test_nll": None if v is None else round(v["test_nll"], 3),
        "reference_test_nll": None if r is None else round(r["test_nll"], 3),
        "vaekit_test_neg_elbo": None if v is None else round(v["test_neg_elbo"], 3),
        "reference_test_neg_elbo": None if r is None else round(r["test_neg_elbo"], 3),
        "vaekit_bits_per_dim": None if v is None else round(v["bits_per_dim"], 5),
        "minutes": args.minutes,
        "k": args.k,
        "seed": args.seed,
        "torch_num_threads": torch.get_num_threads(),
        "vaekit_epochs": None if v is None else v["epochs"],
        "priors": {p or "preset": round(results["vaekit" if p == priors[0] else f"vaekit[{p}]"]["test_nll"], 3)
                   for p in priors}
        if args.only in ("both", "vaekit") and not presets else None,
        "presets": {p: (results[f"preset:{p}"]["curve"] or {f"{args.minutes:g}": results[f"preset:{p}"]["test_nll"]})
                    for p in presets} or None,
        "reference_curve": None if r is None else r["curve"],
        "best_60min_nll": (round(results["preset:best"]["curve"]["60"], 3) if "preset:best" in results
                           and (results["preset:best"]["curve"] or {}).get("60") is not None else None),
        "reference_epochs": None if r is None else r["epochs"],
        "target_nll": TARGET_NLL,
        "target_met": None if v is None or r is None else bool(v["test_nll"] <= TARGET_NLL
                                                                and v["test_nll"] < r["test_nll"]),
        "quick": args.quick,
        "n_train": len(train),
        "n_test": len(test_bin),
        "cpu_count": info["cpu_count"],
        "torch_version": info["torch_version"],
        "vaekit_version": info["vaekit_version"],
        "date": info["date"],
    }
    if v is not None and r is not None:
        print(f"vaekit - reference: {v['test_nll'] - r['test_nll']:+.2f} nats "
              f"(target: vaekit <= {TARGET_NLL:g} and below the reference at --minutes 10)")
    path = C.write_json("mnist_nll.json", {**summary, "machine": info, "results": results})
    C.log(f"wrote {path}")
    C.emit_summary(summary)
    return summary


if __name__ == "__main__":
    main()
