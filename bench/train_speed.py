"""Training throughput: ``vaekit.fit`` vs a plain PyTorch loop on the same model and data.

Both sides train the classic 784-400-20 ReLU MLP VAE with a Bernoulli likelihood on MNIST grey values
in [0, 1] (no binarisation), batch 128, Adam(W) lr 1e-3 without weight decay, no gradient clipping and no
validation split. The reference is the loop of ``pytorch/examples/vae``: ``DataLoader(TensorDataset(x),
batch_size=128, shuffle=True)``, BCE-with-logits summed + analytic KL, ``loss.item()`` every step.

Epochs are interleaved in one process (ref, vaekit, vaekit, ref, ... so that drift in machine load hits both
sides alike) and each side's median images/s over its epochs is reported. ``torch.set_num_threads`` is left
at its default.

Usage::

    python bench/train_speed.py                 # 2 epochs each on full MNIST
    python bench/train_speed.py --epochs 5
    python bench/train_speed.py --quick         # 6,000 images, smoke test

The last line of stdout is one JSON object; the full record goes to ``bench/out/train_speed.json``.
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
from vaekit.config import TrainConfig  # noqa: E402

BATCH_SIZE = 128
LR = 1e-3
# vaekit's side of the comparison: the reference architecture and optimiser, spelled as vaekit options.
MODEL_OPTIONS = dict(net="mlp", hidden_dims=(400,), latent_dim=20, activation="relu", likelihood="bernoulli")
TRAIN_OPTIONS = dict(batch_size=BATCH_SIZE, lr=LR, weight_decay=0.0, lr_schedule="constant", grad_clip=None,
                     val_fraction=0.0, early_stopping_patience=None, binarize="none", kl_warmup=0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=C.DEFAULT_MNIST,
                   help=f"MNIST .npz (default: {C.DEFAULT_MNIST})")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per implementation (default 2)")
    p.add_argument("--quick", action="store_true", help="6,000 training images: a smoke test, not a measurement")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    arrays = C.load_mnist(args.data)
    if args.quick:
        arrays = C.subset_first(arrays, 6000, None)
    x = C.to_unit_tensor(arrays["x_train"])  # (n, 1, 28, 28) in [0, 1]
    n = x.shape[0]
    data = C.mnist_dataset(arrays["x_train"], arrays["y_train"])
    C.log(f"{n} training images, {args.epochs} timed epochs each, torch threads={torch.get_num_threads()}")

    # ---- reference: plain PyTorch
    torch.manual_seed(args.seed)
    ref = C.ReferenceVAE()
    ref_opt = torch.optim.Adam(ref.parameters(), lr=LR)
    loader = C.reference_loader(x, BATCH_SIZE)

    # ---- vaekit
    model = vaekit.VAE.for_data(data, **MODEL_OPTIONS)
    cfg = TrainConfig(epochs=1, seed=args.seed, **TRAIN_OPTIONS)
    n_ref = sum(p.numel() for p in ref.parameters())
    n_vk = sum(p.numel() for p in model.parameters())
    if n_ref != n_vk:  # same architecture: fc21/fc22 are one 400->40 layer in vaekit
        C.log(f"warning: parameter counts differ (reference {n_ref}, vaekit {n_vk})")

    # ---- untimed warm-up of both code paths (allocator, first-call dispatch)
    warm = x[:2048]
    C.reference_train_epoch(C.ReferenceVAE(), torch.optim.Adam(C.ReferenceVAE().parameters()),
                            C.reference_loader(warm, BATCH_SIZE))
    vaekit.fit(vaekit.VAE.for_data(data, **MODEL_OPTIONS), data.subset(range(2048)), cfg, progress=False)

    def time_reference(epoch: int) -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        loss = C.reference_train_epoch(ref, ref_opt, loader)
        s, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"epoch": epoch + 1, "seconds": s, "cpu_seconds": cpu, "images_per_s": n / s, "train_loss": loss}

    def time_vaekit(epoch: int) -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        # One epoch per call; warm_start keeps training the same weights (fit re-creates AdamW per call,
        # which costs nothing measurable at this size).
        h = vaekit.fit(model, data, cfg, progress=False, warm_start=epoch > 0, seed=args.seed + epoch)
        s, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"epoch": epoch + 1, "seconds": s, "cpu_seconds": cpu, "images_per_s": n / s,
                "train_loss": h.rows[-1]["train_loss"],
                "fit_epoch_seconds": h.rows[-1]["seconds"]}

    runs = {"reference": [], "vaekit": []}
    for epoch in range(args.epochs):
        order = ("reference", "vaekit") if epoch % 2 == 0 else ("vaekit", "reference")
        for name in order:
            r = time_reference(epoch) if name == "reference" else time_vaekit(epoch)
            runs[name].append(r)
            C.log(f"{name:9s} epoch {epoch + 1}: {r['seconds']:.2f} s, {r['images_per_s']:,.0f} images/s, "
                  f"loss {r['train_loss']:.2f}")

    med = {k: statistics.median(r["images_per_s"] for r in v) for k, v in runs.items()}
    # Process CPU time is a second view that is less sensitive to other jobs on a shared machine.
    med_cpu = {k: statistics.median(r["cpu_seconds"] for r in v) for k, v in runs.items()}
    ratio = med["vaekit"] / med["reference"]
    info = C.machine_info()

    rows = []
    for name, label in (("reference", "plain PyTorch"), ("vaekit", "vaekit.fit")):
        ips = [r["images_per_s"] for r in runs[name]]
        rows.append([label, len(ips), statistics.median(r["seconds"] for r in runs[name]), med_cpu[name], med[name],
                     min(ips), max(ips), runs[name][-1]["train_loss"]])
    title = (f"Training speed, 784-400-20 Bernoulli VAE, MNIST {n:,} images, batch {BATCH_SIZE} "
             f"({info['cpu_count']} CPUs, torch {info['torch_version']}, {torch.get_num_threads()} threads)")
    C.print_table(title, ["loop", "epochs", "s/epoch", "CPU s/epoch", "images/s (median)", "min", "max",
                          "last train loss"], rows)
    print(f"ratio vaekit / reference: {ratio:.3f} (wall clock), "
          f"{med_cpu['reference'] / med_cpu['vaekit']:.3f} (process CPU time); 1-min load average "
          f"{info.get('load_average_1m', '?')} on {info['cpu_count']} CPUs")

    summary = {
        "benchmark": "train_speed",
        "vaekit_images_per_s": round(med["vaekit"], 1),
        "reference_images_per_s": round(med["reference"], 1),
        "ratio": round(ratio, 4),
        "ratio_cpu_time": round(med_cpu["reference"] / med_cpu["vaekit"], 4),
        "epochs": args.epochs,
        "n_train": n,
        "quick": args.quick,
        "cpu_count": info["cpu_count"],
        "torch_num_threads": info["torch_num_threads"],
        "torch_version": info["torch_version"],
        "vaekit_version": info["vaekit_version"],
        "date": info["date"],
    }
    record = {**summary, "machine": info, "batch_size": BATCH_SIZE, "lr": LR, "model_options": MODEL_OPTIONS,
              "train_options": {k: v for k, v in TRAIN_OPTIONS.items()}, "epochs_detail": runs}
    path = C.write_json("train_speed.json", record)
    C.log(f"wrote {path}")
    C.emit_summary(summary)
    return summary


if __name__ == "__main__":
    main()
