"""Shared tiny fixtures. No network, no ../shared: data is generated here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.config import DataSpec
from vaekit.data import Dataset


def _images(n: int, shape=(1, 8, 8), seed: int = 0) -> torch.Tensor:
    """Smooth random blobs in [0, 1], quantised to 8-bit levels."""
    g = torch.Generator().manual_seed(seed)
    c, h, w = shape
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    centres = torch.rand(n, 2, generator=g) * 1.2 - 0.6
    widths = 0.15 + 0.3 * torch.rand(n, 1, 1, generator=g)
    img = torch.exp(-((xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2) / widths)
    img = img[:, None].expand(n, c, h, w).clone()
    if c == 3:
        img = img * torch.rand(n, 3, 1, 1, generator=g)
    return torch.round(img.clamp(0, 1) * 255) / 255


@pytest.fixture
def image_data() -> Dataset:
    x = _images(96)
    y = torch.arange(96) % 3
    return Dataset(x, y, DataSpec(kind="image", shape=(1, 8, 8), levels=256, image_mode="L", name="blobs"))


@pytest.fixture
def rgb_data() -> Dataset:
    x = _images(48, shape=(3, 10, 12), seed=1)
    return Dataset(x, None, DataSpec(kind="image", shape=(3, 10, 12), levels=256, image_mode="RGB", name="rgb"))


@pytest.fixture
def table_data() -> Dataset:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(128, 2))
    x = z @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(128, 6))
    x = (x - x.mean(0)) / x.std(0)
    return Dataset(torch.tensor(x, dtype=torch.float32), None, DataSpec(kind="array", shape=(6,), name="lowrank"))


def make_images(n, shape=(1, 8, 8), seed=0):
    return _images(n, shape, seed)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny models on one torch thread (restored afterwards).

    Tiny networks run several times faster on one thread than on two contended ones (CI's 2 shared cores).
    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
