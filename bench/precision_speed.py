"""Training speed of a grey-image preset in float32 and under a bfloat16 autocast, epochs interleaved.

``precision="auto"`` (the grey-image presets' setting) trains in bf16 where
``vaekit.training.resolve_precision`` says the device multiplies bfloat16 natively (a CUDA GPU with bf16,
a CPU with AMX tiles). This measures what that buys on this machine: two copies of the same model
(``VAE.for_data(train, preset=P)``, the same initial weights) train with the preset's training config,
one epoch per ``vaekit.fit`` call (``warm_start``), in the order fp32, bf16, bf16, fp32, ... so that drift
in the machine's load hits both alike. Reported: each side's median epoch seconds, images/s and the ratio,
and both sides' last validation loss (one seed: a sanity check that bf16 learns the same, not a figure).

Usage::

    python bench/precision_speed.py                     # the best preset, 6 epochs each, full MNIST
    python bench/precision_speed.py --preset default --epochs 4
    python bench/precision_speed.py --quick             # 6,000 images, smoke test

The last line of stdout is one JSON object; the full record goes to ``bench/out/precision_speed.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import vaekit  # noqa: E402
from vaekit.training import default_train_config, resolve_precision  # noqa: E402

SIDES = ("fp32", "bf16")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=C.DEFAULT_MNIST, help=f"MNIST .npz (default: {C.DEFAULT_MNIST})")
    p.add_argument("--preset", default="best", help="grey-image preset to train (fast, default, best; default best)")
    p.add_argument("--epochs", type=int, default=6, help="timed epochs per precision (default 6)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="6,000 training images: a smoke test, not a measurement")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    arrays = C.load_mnist(args.data)
    if args.quick:
        arrays = C.subset_first(arrays, 6000, None)
    train = C.mnist_dataset(arrays["x_train"], arrays["y_train"], name="mnist-train")
    C.log(f"{len(train):,} training images, preset {args.preset}, {args.epochs} timed epochs per precision, "
          f"torch threads={torch.get_num_threads()}; precision='auto' resolves to {resolve_precision('cpu')!r} here")

    models = {}
    for side in SIDES:
        m = vaekit.VAE.for_data(train, preset=args.preset)
        models[side] = m
    cfgs = {side: default_train_config(train.spec, preset=args.preset, epochs=1, seed=args.seed, precision=side)
            for side in SIDES}
    # untimed warm-up of both code paths (allocator, first-call dispatch, oneDNN kernel selection)
    warm = train.subset(range(2048))
    for side in SIDES:
        vaekit.fit(vaekit.VAE.for_data(train, preset=args.preset), warm, cfgs[side], progress=False)

    n_fit = len(train) - round(cfgs["fp32"].val_fraction * len(train))
    runs = {side: [] for side in SIDES}
    for epoch in range(args.epochs):
        for side in SIDES if epoch % 2 == 0 else SIDES[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            h = vaekit.fit(models[side], train, cfgs[side], progress=False, warm_start=epoch > 0,
                           seed=args.seed + epoch)
            s, cpu = time.perf_counter() - t0, time.process_time() - c0
            row = h.rows[-1]
            runs[side].append({"epoch": epoch + 1, "seconds": s, "cpu_seconds": cpu, "images_per_s": n_fit / s,
                               "train_loss": row["train_loss"], "val_loss": row["val_loss"]})
            C.log(f"{side} epoch {epoch + 1}: {s:.2f} s, {n_fit / s:,.0f} images/s, train loss "
                  f"{row['train_loss']:.2f}, val loss {row['val_loss']:.2f}")

    med = {side: statistics.median(r["seconds"] for r in runs[side]) for side in SIDES}
    med_cpu = {side: statistics.median(r["cpu_seconds"] for r in runs[side]) for side in SIDES}
    speedup = med["fp32"] / med["bf16"]
    info = C.machine_info()
    rows = [[side, len(runs[side]), med[side], med_cpu[side], n_fit / med[side], runs[side][-1]["val_loss"]]
            for side in SIDES]
    C.print_table(f"Epoch time of the {args.preset} preset, fp32 vs bf16 autocast, MNIST {n_fit:,} fitted images "
                  f"({info['cpu_count']} CPUs, {torch.get_num_threads()} threads)",
                  ["precision", "epochs", "s/epoch (median)", "CPU s/epoch", "images/s", "last val loss"], rows)
    print(f"bf16 speed-up: {speedup:.3f}x (wall clock), {med_cpu['fp32'] / med_cpu['bf16']:.3f}x (process CPU "
          f"time); 1-min load average {info.get('load_average_1m', '?')} on {info['cpu_count']} CPUs")
    summary = {
        "benchmark": "precision_speed",
        "preset": args.preset,
        "bf16_speedup": round(speedup, 4),
        "bf16_speedup_cpu_time": round(med_cpu["fp32"] / med_cpu["bf16"], 4),
        "fp32_seconds_per_epoch": round(med["fp32"], 3),
        "bf16_seconds_per_epoch": round(med["bf16"], 3),
        "auto_resolves_to": resolve_precision("cpu"),
        "epochs": args.epochs,
        "n_fit": n_fit,
        "quick": args.quick,
        "cpu_count": info["cpu_count"],
        "torch_num_threads": info["torch_num_threads"],
        "torch_version": info["torch_version"],
        "date": info["date"],
    }
    path = C.write_json("precision_speed.json", {**summary, "machine": info, "epochs_detail": runs})
    C.log(f"wrote {path}")
    C.emit_summary(summary)
    return summary


if __name__ == "__main__":
    main()
