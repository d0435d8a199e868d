"""Shared helpers for the benchmark scripts in ``bench/`` (not part of the installed package).

* MNIST from ``../shared/data/mnist.npz`` as vaekit :class:`~vaekit.data.Dataset` objects (no dependency
  on ``vaekit.data``'s loaders, so the benchmarks measure the core library only);
* the plain-PyTorch reference: the classic 784-400-20 MLP VAE of ``pytorch/examples`` with its
  ``DataLoader`` training loop and an IWAE-k log-likelihood written without vaekit;
* machine information, a table printer (rich when installed, plain text otherwise), atomic JSON output
  under ``bench/out/`` and the one-line JSON summary that ends every script's stdout.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
DEFAULT_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"


# ----------------------------------------------------------------------------------------------- data
def load_mnist(path: str | os.PathLike = DEFAULT_MNIST) -> dict[str, np.ndarray]:
    """Read ``x_train, y_train, x_test, y_test`` (uint8 / int) from an ``.npz`` file."""
    path = Path(path)
    if not path.is_file():
        sys.exit(f"error: MNIST file '{path}' not found. Pass --data PATH to an .npz with "
                 f"x_train (60000, 28, 28) uint8, y_train, x_test, y_test.")
    with np.load(path) as f:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
        if missing:
            sys.exit(f"error: '{path}' lacks arrays {sorted(missing)}; it has {sorted(f.files)}.")
        return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}


def to_unit_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, 28, 28) -> float32 (n, 1, 28, 28) grey values in [0, 1]."""
    return torch.from_numpy(images[:, None].astype("float32") / 255)


def mnist_dataset(images: np.ndarray, labels: np.ndarray, name: str = "mnist"):
    """A vaekit Dataset of grey-level MNIST digits (values in [0, 1], 256 levels)."""
    from vaekit.config import DataSpec
    from vaekit.data import Dataset

    spec = DataSpec(kind="image", shape=(1, 28, 28), levels=256, image_mode="L", name=name)
    return Dataset(to_unit_tensor(images), torch.from_numpy(labels.astype("int64")), spec)


def subset_first(arrays: dict[str, np.ndarray], n_train: int | None, n_test: int | None) -> dict[str, np.ndarray]:
    """The first ``n_train`` / ``n_test`` examples (for --quick smoke runs)."""
    out = dict(arrays)
    if n_train is not None:
        out["x_train"], out["y_train"] = arrays["x_train"][:n_train], arrays["y_train"][:n_train]
    if n_test is not None:
        out["x_test"], out["y_test"] = arrays["x_test"][:n_test], arrays["y_test"][:n_test]
    return out


# ----------------------------------------------------------------------------------------------- reference
class ReferenceVAE(nn.Module):
    """The classic MNIST VAE of ``pytorch/examples/vae`` (784-400-20, ReLU, Bernoulli), in plain PyTorch."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        """Bernoulli logits of shape (..., 784)."""
        return self.fc4(F.relu(self.fc3(z)))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def reference_loss(logits, x, mu, logvar):
    """BCE-with-logits summed over pixels and batch + analytic KL (Kingma & Welling 2014, App. B)."""
    bce = F.binary_cross_entropy_with_logits(logits, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def reference_loader(x: torch.Tensor, batch_size: int = 128):
    """The usual ``DataLoader(TensorDataset(x), batch_size, shuffle=True)``."""
    from torch.utils.data import DataLoader, TensorDataset

    return DataLoader(TensorDataset(x), batch_size=batch_size, shuffle=True)


def reference_train_epoch(model, optimizer, loader, *, binarize: bool = False) -> float:
    """One epoch of the plain loop; returns the mean loss per example (negative ELBO, nats)."""
    model.train()
    total, n = 0.0, 0
    for (data,) in loader:
        if binarize:
            data = torch.bernoulli(data)
        optimizer.zero_grad()
        logits, mu, logvar = model(data)
        loss = reference_loss(logits, data, mu, logvar)
        loss.backward()
        total += loss.item()
        n += data.shape[0]
        optimizer.step()
    return total / max(n, 1)


@torch.inference_mode()
def reference_evaluate(model: ReferenceVAE, x: torch.Tensor, *, k: int, batch_size: int = 100, seed: int = 0,
                       max_elements: int = 2**25, progress: Callable[[int, int], None] | None = None) -> dict:
    """Negative ELBO (one z per image, analytic KL) and IWAE-k NLL (Burda et al. 2016, eq. 8), nats per image.

    ``x`` holds binary images of shape (n, 1, 28, 28). Importance samples are drawn in chunks so that at most
    about ``max_elements`` logits exist at once; the log-sum-exp runs over the chunks exactly.
    """
    model.eval()
    g = torch.Generator().manual_seed(seed)
    sums = torch.zeros(2, dtype=torch.float64)
    n_done = 0
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size].reshape(-1, 784)  # (b, 784)
        b = xb.shape[0]
        mu, logvar = model.encode(xb)  # (b, 20) each
        std = torch.exp(0.5 * logvar)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)  # (b,)
        z1 = mu + std * torch.randn(mu.shape, generator=g)
        rec = F.binary_cross_entropy_with_logits(model.decode(z1), xb, reduction="none").sum(-1)  # (b,)
        nll = torch.zeros((), dtype=torch.float64)
        if k > 0:
            chunk = max(1, min(k, max_elements // (b * 784)))
            total = None
            done = 0
            while done < k:
                c = min(chunk, k - done)
                eps = torch.randn((c, *mu.shape), generator=g)  # (c, b, 20)
                z = mu + std * eps
                log_px = -F.binary_cross_entropy_with_logits(
                    model.decode(z), xb.expand(c, b, 784), reduction="none").sum(-1)  # (c, b)
                log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)  # (c, b)
                log_qz = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + logvar).sum(-1)  # (c, b)
                part = torch.logsumexp(log_px + log_pz - log_qz, dim=0)  # (b,)
                total = part if total is None else torch.logaddexp(total, part)
                done += c
            nll = -(total - math.log(k)).double().sum()
        sums += torch.stack([(rec + kl).double().sum(), nll])
        n_done += b
        if progress is not None:
            progress(n_done, x.shape[0])
    neg_elbo, nll = (sums / max(n_done, 1)).tolist()
    return {"neg_elbo": neg_elbo, "nll": nll if k > 0 else None, "k": k, "n": n_done}


def bits_per_dim(nats: float | None, dims: int = 784) -> float | None:
    return None if nats is None else nats / (dims * math.log(2))


# ----------------------------------------------------------------------------------------------- machine, output
def machine_info() -> dict[str, Any]:
    """Where and when the figures were taken."""
    import vaekit

    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "vaekit_version": vaekit.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
    }
    try:
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not on every OS
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=5).stdout.strip()
        if commit:
            info["git_commit"] = commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table to stdout: rich when installed, aligned plain text otherwise."""
    cells = [[_fmt(v) for v in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        print(title)
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
        print("  ".join("-" * w for w in widths))
        for r in cells:
            print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))))
        return
    table = Table(title=title)
    for i, c in enumerate(columns):
        table.add_column(c, justify="left" if i == 0 else "right")
    for r in cells:
        table.add_row(*r)
    Console(file=sys.stdout, width=max(120, Console().width)).print(table)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) < 0.01 else f"{v:.2f}"
    return str(v)


def write_json(name: str, obj: Any) -> Path:
    """Write ``bench/out/NAME`` atomically (temp file in the same folder + os.replace)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=OUT_DIR)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def emit_summary(obj: dict) -> None:
    """The last line of stdout: one JSON object (what CI and RESULTS.md read)."""
    sys.stdout.flush()
    print(json.dumps(obj, separators=(",", ":")), flush=True)


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays table + summary."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
