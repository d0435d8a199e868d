"""Past one process: data-parallel speed, agreement with one process, memory on a 2 GB memory map, GPU.

Three parts, each in fresh processes so that one does not disturb the next:

1. **DDP on CPU.** The same model (784-400-20 Bernoulli VAE, dynamic binarisation, global batch 128)
   trains on MNIST digits for ``--epochs`` epochs once in one process (torch's default threads) and
   once under ``torchrun --nproc-per-node 2`` with gloo (one thread per process). Reported:
   images/s of each (median epoch, the first excluded as warm-up) and the speed-up. Agreement: a short
   run (2,000 digits, 2 epochs) with 1 and with 2 processes must end with the same weights up to float
   summation order (``allclose``, rtol 1e-3, atol 1e-4); the long runs' final losses
   and largest weight difference are reported beside it.
2. **Memory.** A float32 array of ``--gib`` GiB (MNIST digits tiled) is written as ``.npy`` under
   ``bench/out/`` and memory-mapped; one epoch trains on it with a 1% validation split. Reported: the
   training process's peak RSS (VmHWM; its DataLoader workers' too), target <= 1 GiB.
3. **GPU.** With CUDA, images/s of ``vaekit.fit`` against the plain PyTorch loop on the same model, with
   bf16 autocast off and on; ``null`` without a GPU.

Usage::

    python bench/scale.py                # defaults: 20,000 digits x 4 epochs, a 2 GiB map
    python bench/scale.py --quick        # small sizes: a smoke test, not a measurement

The last line of stdout is one JSON object (``ddp_2proc_speedup``, ``ddp_matches_single``,
``peak_rss_mib``, ``gpu_images_per_s``); the full record goes to ``bench/out/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

MODEL = dict(net="mlp", hidden_dims=(400,), latent_dim=20, activation="relu", likelihood="bernoulli")

DDP_WORKER = textwrap.dedent(r'''
    import json, sys
    import torch
    import vaekit
    from vaekit import distributed
    sys.path.insert(0, sys.argv[5])
    import _common as C

    out, n, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if threads:
        torch.set_num_threads(threads)
    ctx = distributed.setup("cpu")
    arrays = C.subset_first(C.load_mnist(sys.argv[6]), n, None)
    data = C.mnist_dataset(arrays["x_train"], arrays["y_train"])
    model = vaekit.VAE.for_data(data, **json.loads(sys.argv[7]))
    run = vaekit.fit(model, data, out=out, overwrite=True, epochs=epochs, batch_size=128, lr=1e-3, binarize="dynamic",
                     val_fraction=0.0, early_stopping_patience=None, seed=0, progress=False)
    if ctx.is_main:
        print(json.dumps({"world": ctx.world_size, "threads": torch.get_num_threads(),
                          "seconds": [r["seconds"] for r in run.rows], "n": len(data),
                          "train_loss": run.rows[-1]["train_loss"]}))
    distributed.teardown()
''')

RSS_WORKER = textwrap.dedent(r'''
    import json, resource, sys
    import numpy as np
    import vaekit
    path = sys.argv[1]
    x = np.load(path, mmap_mode="r")
    data = vaekit.Dataset(x, None, vaekit.DataSpec(kind="image", shape=tuple(x.shape[1:]), levels=256, name=path))
    model = vaekit.VAE.for_data(data, **json.loads(sys.argv[2]))
    run = vaekit.fit(model, data, epochs=1, batch_size=256, val_fraction=0.01, binarize="none", seed=0,
                     progress=False)
    # VmHWM: the peak RSS of this process's own memory. (ru_maxrss would not do: Linux carries the parent's
    # peak across fork + exec, and the parent wrote the 2 GiB file.)
    with open("/proc/self/status") as f:
        own = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # DataLoader workers (0 for a map)
    print(json.dumps({"peak_rss_mib": max(own, workers), "own_mib": own, "workers_mib": workers,
                      "n": len(data), "seconds": run.rows[-1]["seconds"], "loss": run.rows[-1]["train_loss"]}))
''')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=C.DEFAULT_MNIST, help=f"MNIST .npz (default: {C.DEFAULT_MNIST})")
    p.add_argument("--n", type=int, default=20000, help="training digits for the DDP part (default 20,000)")
    p.add_argument("--epochs", type=int, default=4, help="epochs of the DDP part (default 4; the first is warm-up)")
    p.add_argument("--gib", type=float, default=2.0, help="size of the memory-mapped array (default 2 GiB)")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not a measurement")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.gib = 2000, 2, 0.05
    return args


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, env=None) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ddp_part(args, out: Path) -> dict:
    script = out / "scale_ddp_worker.py"
    script.write_text(DDP_WORKER)
    common = [str(args.n), str(args.epochs)]
    tail = [str(C.BENCH_DIR), str(args.data), json.dumps(MODEL)]
    C.log("DDP part: 1 process")
    one = _run([sys.executable, str(script), str(out / "scale_one"), *common, "0", *tail])
    C.log("DDP part: torchrun, 2 processes x 1 thread (gloo)")
    two = _run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--nnodes=1",
                f"--master-port={_port()}", str(script), str(out / "scale_two"), *common, "1", *tail],
               env={"OMP_NUM_THREADS": "1"})
    from safetensors.torch import load_file
    import torch

    def compare(a: str, b: str) -> tuple[bool, float]:
        wa, wb = load_file(out / a / "model.safetensors"), load_file(out / b / "model.safetensors")
        diff = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
        return wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], rtol=1e-3, atol=1e-4) for k in wa), diff

    # Agreement is checked on a short run, as in the CI test: over hundreds of Adam steps the float-order
    # differences of the all-reduced gradients grow (Adam divides by sqrt(v), which amplifies them where
    # gradients are tiny), so the long timing runs are compared by their final loss only.
    C.log("DDP part: agreement check (2,000 digits, 2 epochs, 1 and 2 processes)")
    short = [str(min(2000, args.n)), "2"]
    _run([sys.executable, str(script), str(out / "scale_eq_one"), *short, "0", *tail])
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--nnodes=1", f"--master-port={_port()}",
          str(script), str(out / "scale_eq_two"), *short, "1", *tail], env={"OMP_NUM_THREADS": "1"})
    match, diff = compare("scale_eq_one", "scale_eq_two")
    _, long_diff = compare("scale_one", "scale_two")
    timed = lambda r: statistics.median(r["seconds"][1:] or r["seconds"])  # noqa: E731
    ips_one, ips_two = one["n"] / timed(one), two["n"] / timed(two)
    return {"images_per_s_1proc": ips_one, "images_per_s_2proc": ips_two, "speedup": ips_two / ips_one,
            "matches": bool(match), "max_abs_weight_diff": diff, "max_abs_weight_diff_long_run": long_diff,
            "final_train_loss_1proc": one["train_loss"], "final_train_loss_2proc": two["train_loss"],
            "threads_1proc": one["threads"], "seconds_1proc": one["seconds"], "seconds_2proc": two["seconds"]}


def rss_part(args, out: Path) -> dict:
    arrays = C.load_mnist(args.data)
    digits = (arrays["x_train"].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    rows = int(args.gib * 2**30 // (784 * 4))
    path = out / "scale_map.npy"
    C.log(f"memory part: writing {rows:,} x 784 float32 ({rows * 784 * 4 / 2**30:.2f} GiB) to {path}")
    with open(path, "wb") as f:  # written with plain file writes: this process stays small
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, 1, 28, 28)})
        for start in range(0, rows, len(digits)):
            f.write(digits[: min(rows, start + len(digits)) - start].tobytes())
    script = out / "scale_rss_worker.py"
    script.write_text(RSS_WORKER)
    C.log("memory part: one epoch on the memory map")
    try:
        result = _run([sys.executable, str(script), str(path), json.dumps(MODEL)])
    finally:
        path.unlink(missing_ok=True)
    result["gib"] = rows * 784 * 4 / 2**30
    return result


def gpu_part() -> dict | None:
    import torch

    if not torch.cuda.is_available():
        return None
    import vaekit

    arrays = C.load_mnist()
    x = C.to_unit_tensor(arrays["x_train"])
    data = C.mnist_dataset(arrays["x_train"], arrays["y_train"])
    out = {}
    for precision in ("fp32", "bf16"):
        model = vaekit.VAE.for_data(data, **MODEL)
        vaekit.fit(model, data.subset(range(4096)), epochs=1, progress=False, device="cuda", precision=precision)
        torch.cuda.synchronize()
        t = time.perf_counter()
        vaekit.fit(model, data, epochs=1, batch_size=128, val_fraction=0.0, progress=False, device="cuda",
                   precision=precision, warm_start=True)
        torch.cuda.synchronize()
        out[f"vaekit_{precision}"] = len(data) / (time.perf_counter() - t)
    ref = C.ReferenceVAE().cuda()
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    loader = C.reference_loader(x, 128)
    t = time.perf_counter()
    for (xb,) in loader:
        xb = xb.cuda(non_blocking=True)
        logits, mu, logvar = ref(xb)
        loss = C.reference_loss(logits, xb, mu, logvar)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    out["reference_fp32"] = len(x) / (time.perf_counter() - t)
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = C.OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    ddp = ddp_part(args, out)
    rss = rss_part(args, out)
    gpu = gpu_part()
    C.print_table("Data-parallel training on CPU (gloo), 784-400-20 VAE, global batch 128",
                  ["processes", "threads each", "images/s", "same weights"],
                  [[1, ddp["threads_1proc"], ddp["images_per_s_1proc"], "-"],
                   [2, 1, ddp["images_per_s_2proc"], ddp["matches"]]])
    C.print_table(f"One epoch on a {rss['gib']:.2f} GiB memory-mapped array",
                  ["images", "seconds", "peak RSS (MiB)", "process", "workers"],
                  [[rss["n"], rss["seconds"], rss["peak_rss_mib"], rss["own_mib"], rss["workers_mib"]]])
    if gpu:
        C.print_table("GPU images/s", list(gpu), [list(gpu.values())])
    info = C.machine_info()
    summary = {
        "benchmark": "scale",
        "ddp_2proc_speedup": round(ddp["speedup"], 3),
        "ddp_matches_single": ddp["matches"],
        "peak_rss_mib": round(rss["peak_rss_mib"], 1),
        "gpu_images_per_s": None if gpu is None else {k: round(v, 1) for k, v in gpu.items()},
        "quick": args.quick,
        "date": info["date"],
    }
    path = C.write_json("scale.json", {**summary, "ddp": ddp, "memory": rss, "machine": info, "args": vars(args) | {
        "data": str(args.data)}})
    C.log(f"wrote {path}")
    C.emit_summary(summary)
    return summary


if __name__ == "__main__":
    main()
