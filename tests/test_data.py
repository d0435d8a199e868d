"""vaekit.data: every source on small files generated here (no network, no ../shared), splits, errors."""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import vaekit
from vaekit.config import DataSpec
from vaekit.data import (
    BUILTINS,
    apply_spec,
    decode_table,
    describe,
    from_array,
    load,
    make_blobs_images,
    make_linear_gaussian,
    make_table,
    read_idx,
    train_test_split,
)
from vaekit.data import arrays as arrays_mod
from vaekit.data import mnist as mnist_mod
from vaekit.errors import ConfigError, DataError


# ------------------------------------------------------------------------------------------ helpers
def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (header 00 00 08 ndim, big-endian dims, data)."""
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    data = idx_bytes(arr)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tiny_mnist(folder: Path, n_train: int = 12, n_test: int = 5, gz_test: bool = False, seed: int = 0):
    """A folder of the four MNIST-style IDX files (train gzipped, test raw unless gz_test) with tiny 6x5 images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    xtr = rng.integers(0, 256, size=(n_train, 6, 5), dtype=np.uint8)
    ytr = (np.arange(n_train) % 10).astype(np.uint8)
    xte = rng.integers(0, 256, size=(n_test, 6, 5), dtype=np.uint8)
    yte = (np.arange(n_test) % 10).astype(np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", xtr)
    write_idx(folder / "train-labels-idx1-ubyte.gz", ytr)
    suffix = ".gz" if gz_test else ""
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", xte, gz=gz_test)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", yte, gz=gz_test)
    return xtr, ytr, xte, yte


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


# ------------------------------------------------------------------------------------------ builtins
def test_builtins_listed_and_described():
    assert BUILTINS == ("mnist5k", "digits", "mnist", "fashion-mnist", "kmnist")
    text = describe()
    for name in BUILTINS:
        assert re.search(rf"^  {re.escape(name)} ", text, flags=re.M)
    assert ".parquet" in text and "VAEKIT_DATA" in text
    assert vaekit.datasets.load is load


def test_mnist5k_shapes_labels_balance_and_range():
    train, test, full = load("mnist5k"), load("mnist5k", split="test"), load("mnist5k", split="all")
    assert (len(train), len(test), len(full)) == (4500, 500, 5000)
    assert train.shape == (1, 28, 28) and train.kind == "image"
    assert train.spec.levels == 256 and train.spec.image_mode == "L"
    assert train.spec.label_names == tuple(str(i) for i in range(10))
    assert train.x.dtype == torch.float32
    assert float(full.x.min()) == 0.0 and float(full.x.max()) == 1.0
    # 8-bit values: x * 255 is an integer everywhere.
    assert torch.equal(full.x * 255, torch.round(full.x * 255))
    assert torch.equal(torch.bincount(full.y), torch.full((10,), 500))
    # The file is sorted by class; the seeded shuffle makes any prefix cover all classes.
    assert set(train.y[:60].tolist()) == set(range(10))
    # train is the first 4,500 of the fixed order and test the last 500: disjoint, together everything.
    assert torch.equal(full.x[:4500], train.x) and torch.equal(full.x[4500:], test.x)
    assert torch.equal(full.y[4500:], test.y)
    assert torch.bincount(test.y, minlength=10).min() >= 30


def test_mnist5k_order_is_fixed_and_cache_cannot_be_mutated():
    a = load("mnist5k", split="test")
    first_labels = a.y[:20].clone()
    a.x.zero_()
    a.y.zero_()
    b = load("mnist5k", split="test")
    assert float(b.x.max()) == 1.0
    assert torch.equal(b.y[:20], first_labels)
    assert not torch.equal(first_labels, torch.zeros_like(first_labels))


def test_mnist5k_resize_and_rgb_keep_8bit_grid():
    d = load("mnist5k", split="test", image_size=14, mode="RGB")
    assert d.shape == (3, 14, 14) and d.spec.image_mode == "RGB"
    assert torch.equal(d.x[:, 0], d.x[:, 2])
    assert torch.equal(d.x * 255, torch.round(d.x * 255))


def test_digits_builtin():
    train, test = load("digits"), load("DIGITS", split="test")
    assert (len(train), len(test)) == (1617, 180)
    assert train.shape == (1, 8, 8) and train.spec.levels == 17
    assert torch.equal(train.x * 16, torch.round(train.x * 16))
    assert float(train.x.max()) == 1.0
    assert set(test.y.tolist()) == set(range(10))


# ------------------------------------------------------------------------------------------ IDX
def test_read_idx_raw_and_gzip(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a-idx3-ubyte", arr, gz=False)), arr)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a-idx3-ubyte.gz", arr)), arr)


def test_idx_folder_splits(tmp_path):
    xtr, ytr, xte, yte = tiny_mnist(tmp_path / "idx")
    train = load(tmp_path / "idx")
    test = load(str(tmp_path / "idx"), split="test")
    both = load(tmp_path / "idx", split="all")
    assert train.shape == (1, 6, 5) and len(train) == 12 and len(test) == 5 and len(both) == 17
    np.testing.assert_allclose(train.x.numpy()[:, 0], xtr / 255, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(test.y.numpy(), yte)
    assert torch.equal(both.x[12:], test.x)
    assert train.spec.levels == 256


@pytest.mark.parametrize(
    "content, message",
    [
        (idx_bytes(np.zeros((4, 6, 5), np.uint8))[:-7], r"is truncated: shape \(4, 6, 5\)"),
        (b"\x08\x03" + idx_bytes(np.zeros((4, 6, 5), np.uint8))[2:], "has a bad header"),
        (gzip.compress(idx_bytes(np.zeros((4, 6, 5), np.uint8)))[:-12], "corrupt or truncated gzip"),
        (idx_bytes(np.zeros((4, 6, 5), np.uint8))[:10], "is truncated: its header promises 3 dimensions"),
    ],
)
def test_corrupt_idx_names_the_file(tmp_path, content, message):
    tiny_mnist(tmp_path / "idx")
    (tmp_path / "idx" / "train-images-idx3-ubyte.gz").write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        load(tmp_path / "idx")
    assert "train-images-idx3-ubyte.gz" in str(info.value)


def test_idx_images_and_labels_must_match(tmp_path):
    tiny_mnist(tmp_path / "idx")
    write_idx(tmp_path / "idx" / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with pytest.raises(DataError, match="has 12 images but .* has 11 labels"):
        load(tmp_path / "idx")


def test_mnist_builtin_reads_cache_without_downloading(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path))
    xtr, *_ = tiny_mnist(tmp_path / "fashion-mnist")

    def no_network(url, dest):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(mnist_mod, "_fetch", no_network)
    d = load("fashion-mnist")
    assert len(d) == 12 and d.name == "fashion-mnist"
    assert d.spec.label_names[0] == "T-shirt/top" and d.spec.label_names[9] == "Ankle boot"
    np.testing.assert_allclose(d.x.numpy()[:, 0], xtr / 255, atol=1e-7)


def test_download_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "cache"))
    calls = []

    def offline(url, dest):
        calls.append(url)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(mnist_mod, "_fetch", offline)
    with pytest.raises(DataError, match="Could not download mnist") as info:
        load("mnist", split="test")
    msg = str(info.value)
    assert "Network is unreachable" in msg
    assert str(tmp_path / "cache" / "mnist") in msg
    assert "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in msg
    assert "train-images" not in msg  # only what this split needs
    assert ".npz" in msg and "IDX" in msg
    assert len(calls) == 2  # both mirrors tried for the first file


def test_download_verifies_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "cache"))
    src = tmp_path / "server"
    tiny_mnist(src, gz_test=True)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in src.iterdir()}
    monkeypatch.setitem(mnist_mod.MNIST_FAMILY["kmnist"], "md5", md5)

    def fake_fetch(url, dest):
        dest.write_bytes((src / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(mnist_mod, "_fetch", fake_fetch)
    d = load("kmnist", split="test")
    assert len(d) == 5 and d.spec.label_names[:3] == ("o", "ki", "su")
    assert sorted(p.name for p in (tmp_path / "cache" / "kmnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
    ]
    # A file whose checksum does not match is deleted and reported.
    monkeypatch.setitem(mnist_mod.MNIST_FAMILY["kmnist"], "md5", {**md5, "train-images-idx3-ubyte.gz": "0" * 32})
    with pytest.raises(DataError, match="does not match the published 0{32}"):
        load("kmnist", split="train")
    assert not (tmp_path / "cache" / "kmnist" / "train-images-idx3-ubyte.gz").exists()


# ------------------------------------------------------------------------------------------ npz / npy
def test_npz_train_test_channels_last(tmp_path):
    rng = np.random.default_rng(0)
    xtr = rng.integers(0, 256, size=(10, 5, 4, 3), dtype=np.uint8)
    xte = rng.integers(0, 256, size=(4, 5, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=xtr, y_train=np.arange(10) % 3, x_test=xte, y_test=[2, 0, 1, 1])
    train, test = load(tmp_path / "d.npz"), load(tmp_path / "d.npz", split="test")
    assert train.shape == (3, 5, 4) and train.spec.image_mode == "RGB" and train.spec.levels == 256
    np.testing.assert_allclose(train.x.numpy(), xtr.transpose(0, 3, 1, 2) / 255, atol=1e-7)
    assert test.y.tolist() == [2, 0, 1, 1] and len(load(tmp_path / "d.npz", split="all")) == 14


def test_npz_x_only_vectors(tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 3))
    np.savez(tmp_path / "v.npz", x=x, y=np.array(["b", "a", "b", "c", "a", "a", "b", "c"]))
    d = load(tmp_path / "v.npz")
    assert d.kind == "array" and d.shape == (3,)
    np.testing.assert_allclose(d.x.numpy(), x, rtol=1e-6)
    assert d.spec.label_names == ("a", "b", "c") and d.y.tolist() == [1, 0, 1, 2, 0, 0, 1, 2]
    with pytest.raises(DataError, match="has no separate test split"):
        load(tmp_path / "v.npz", split="test")


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "k.npz", images=np.zeros((2, 3)))
    with pytest.raises(DataError, match="holds arrays images; expected 'x_train'"):
        load(tmp_path / "k.npz")
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="Array 'x' of .*o.npz could not be read.*never unpickles"):
        load(tmp_path / "o.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"bad\.npz' is not a NumPy .npy/.npz file.*looks like text"):
        load(tmp_path / "bad.npz")


def test_npy_float_vectors_and_uint8_images(tmp_path):
    x = np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    d = load(tmp_path / "v.npy")
    assert d.kind == "array" and d.in_memory and torch.equal(d.x, torch.from_numpy(x))
    imgs = np.random.default_rng(2).integers(0, 256, size=(3, 1, 6, 6), dtype=np.uint8)
    np.save(tmp_path / "i.npy", imgs)
    d = load(tmp_path / "i.npy")
    assert d.kind == "image" and d.shape == (1, 6, 6)
    np.testing.assert_allclose(d.x.numpy(), imgs / 255, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
@pytest.mark.parametrize("high", [1, 255])
def test_integer_images_with_two_values_are_binary_and_say_so(tmp_path, dtype, high):
    # 0/1 (or 0/255) integer images are binary images, not 8-bit ones that are almost black.
    bits = np.random.default_rng(3).integers(0, 2, size=(6, 5, 5))
    np.save(tmp_path / "b.npy", (bits * high).astype(dtype))
    d = load(tmp_path / "b.npy")
    assert d.kind == "image" and d.spec.levels == 2
    np.testing.assert_array_equal(d.x.numpy()[:, 0], bits.astype(np.float32))
    assert f"binary (integer values 0/{high})" in d.description
    # the model picked for it is a Bernoulli one
    assert vaekit.VAE.for_data(d, latent_dim=2).config.likelihood == "bernoulli"


def test_integer_vectors_of_zeros_and_ones_are_binary(tmp_path):
    bits = np.random.default_rng(4).integers(0, 2, size=(6, 7)).astype(np.uint8)
    np.save(tmp_path / "v.npy", bits)
    d = load(tmp_path / "v.npy")
    assert d.kind == "array" and d.spec.levels == 2 and "binary" in d.description


def test_8bit_images_say_so_and_a_binary_spec_reads_0_255(tmp_path):
    imgs = np.random.default_rng(2).integers(0, 256, size=(3, 1, 6, 6), dtype=np.uint8)
    np.save(tmp_path / "i.npy", imgs)
    d = load(tmp_path / "i.npy")
    assert d.spec.levels == 256 and "8-bit (integer values 0..255)" in d.description
    bits = np.random.default_rng(3).integers(0, 2, size=(3, 6, 6)).astype(np.uint8)
    np.save(tmp_path / "b.npy", bits * 255)
    spec = DataSpec(kind="image", shape=(1, 6, 6), levels=2, image_mode="L")
    again = load(tmp_path / "b.npy", data_spec=spec)
    np.testing.assert_array_equal(again.x.numpy()[:, 0], bits.astype(np.float32))
    with pytest.raises(DataError, match=r"i.npy holds integers in \[\d+, \d+\], but the model is for binary data \(levels 2\)"):
        load(tmp_path / "i.npy", data_spec=spec)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros(5), r"has shape \(5,\); expected \(n, features\)"),
        (np.zeros((2, 3, 4, 5, 6)), r"has shape \(2, 3, 4, 5, 6\)"),
        (np.zeros((0, 3)), r"is empty \(shape \(0, 3\)\)"),
        (np.zeros((2, 5, 5, 7), np.uint8), "with C = 1 \\(grayscale\\) or 3"),
        (np.full((2, 4, 4), 3.5), r"holds floats in \[3.5, 3.5\]; image arrays must be uint8"),
        (np.array([["a", "b"]]), "has dtype <U1; expected numbers"),
    ],
)
def test_npy_bad_arrays(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(DataError, match=message) as info:
        load(tmp_path / "bad.npy")
    assert "bad.npy" in str(info.value)


def test_npy_nan_names_file_and_first_index(tmp_path):
    x = np.zeros((6, 3), np.float32)
    x[4, 1] = np.nan
    x[5, 0] = np.inf
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(DataError, match=r"nan.npy contains NaN or infinite values \(first: nan at index \(4, 1\)\)"):
        load(tmp_path / "nan.npy")


def test_large_float32_npy_streams_from_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(arrays_mod, "MMAP_THRESHOLD_BYTES", 0)  # every file counts as large
    x = np.random.default_rng(0).random((20, 1, 4, 4)).astype(np.float32)
    np.save(tmp_path / "big.npy", x)
    d = load(tmp_path / "big.npy")
    assert not d.in_memory and d.shape == (1, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about tensors on read-only memory
        batches = list(d.batches(8))
        shuffled = torch.cat(list(d.batches(8, shuffle=True, generator=torch.Generator().manual_seed(0))))
    assert [len(b) for b in batches] == [8, 8, 4]
    np.testing.assert_array_equal(torch.cat(batches).numpy(), x)
    assert sorted(shuffled[:, 0, 0, 0].tolist()) == sorted(x[:, 0, 0, 0].tolist())
    batches[0].fill_(7.0)  # batches are writable, and writing never reaches the file
    np.testing.assert_array_equal(np.load(tmp_path / "big.npy"), x)
    # Not float32 -> converted in memory instead.
    np.save(tmp_path / "big8.npy", (x * 255).astype(np.uint8))
    assert load(tmp_path / "big8.npy").in_memory


# ------------------------------------------------------------------------------------------ image folders
@pytest.fixture
def image_folder(tmp_path) -> Path:
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls, n in (("dogs", 3), ("cats", 2)):
        for i in range(n):
            write_png(root / cls / f"{i}.png", rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8))
    return root


def test_image_folder_with_classes(image_folder):
    d = load(image_folder)
    assert len(d) == 5 and d.shape == (3, 6, 8) and d.spec.image_mode == "RGB" and d.spec.levels == 256
    assert d.spec.label_names == ("cats", "dogs")
    assert d.ids == ["cats/0.png", "cats/1.png", "dogs/0.png", "dogs/1.png", "dogs/2.png"]
    assert d.y.tolist() == [0, 0, 1, 1, 1]
    raw = np.asarray(Image.open(image_folder / "dogs" / "1.png"))
    np.testing.assert_allclose(d.x[3].numpy(), raw.transpose(2, 0, 1) / 255, atol=1e-7)


def test_image_folder_mode_size_and_mixed_sizes(image_folder, caplog):
    write_png(image_folder / "apes" / "0.png", np.zeros((10, 10, 3), np.uint8))  # the first file read
    with caplog.at_level(logging.WARNING, logger="vaekit.data.images"):
        d = load(image_folder)
    assert d.shape == (3, 6, 8)  # the most common size, not the first
    assert "2 different sizes" in caplog.text
    small = load(image_folder, image_size=(4, 5), mode="L")
    assert small.shape == (1, 4, 5) and small.spec.image_mode == "L"
    assert torch.equal(small.x * 255, torch.round(small.x * 255))


def test_flat_grayscale_folder_has_no_labels(tmp_path):
    for i in range(3):
        write_png(tmp_path / "flat" / f"{i}.png", np.full((5, 5), 40 * i, np.uint8))
    (tmp_path / "flat" / "notes.txt").write_text("not an image, ignored")
    d = load(tmp_path / "flat")
    assert d.y is None and d.shape == (1, 5, 5) and d.spec.image_mode == "L"
    assert d.x[2].unique().tolist() == [pytest.approx(80 / 255)]


def test_image_folder_errors(tmp_path, image_folder):
    (image_folder / "dogs" / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"Image file '.*dogs/bad\.png' could not be read: "):
        load(image_folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="contains no images"):
        load(tmp_path / "empty")
    write_png(tmp_path / "mixed" / "a.png", np.zeros((4, 4), np.uint8))
    write_png(tmp_path / "mixed" / "cls" / "b.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="both at its top level and in sub-folders"):
        load(tmp_path / "mixed")


def test_image_folder_with_data_spec_resizes_and_converts(image_folder):
    spec = DataSpec(kind="image", shape=(1, 3, 4), image_mode="L", levels=256, label_names=("cats", "dogs"))
    d = load(image_folder, data_spec=spec)
    assert d.shape == (1, 3, 4) and d.y.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(DataError, match="has label 'cats'.*not trained on; known labels: birds"):
        load(image_folder, data_spec=spec.replace(label_names=("birds", "dogs")))


# ------------------------------------------------------------------------------------------ tables
@pytest.fixture
def table_csv(tmp_path) -> Path:
    df = make_table(60, seed=3)
    df["const"] = 5.0
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path


def test_csv_table_spec_is_complete(table_csv):
    d = load(table_csv, label_column="label")
    s = d.spec
    assert d.kind == "table" and s.label_column == "label" and s.label_names == ("high", "low")
    assert s.numeric_columns == ("age", "income", "score", "const")
    assert s.categorical_columns == ("color", "member")
    assert s.categories == (("blue", "green", "red"), ("False", "True"))
    assert s.columns[-5:] == ("color=blue", "color=green", "color=red", "member=False", "member=True")
    assert d.shape == (len(s.columns),) == (9,)
    x = d.x.numpy()
    np.testing.assert_allclose(x[:, :3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x[:, :3].std(0), 1, atol=1e-5)
    assert s.std[3] == 1.0 and np.all(x[:, 3] == 0)  # constant column: centred, not divided by 0
    np.testing.assert_array_equal(x[:, 4:7].sum(1), 1)
    raw = pd.read_csv(table_csv)
    assert d.y.tolist() == [0 if v == "high" else 1 for v in raw["label"]]
    back = decode_table(d.x, s)
    np.testing.assert_allclose(back["income"], raw["income"], rtol=1e-5)
    assert back["color"].tolist() == raw["color"].tolist()


def test_parquet_matches_csv(tmp_path, table_csv):
    pd.read_csv(table_csv).to_parquet(tmp_path / "data.parquet")
    a, b = load(table_csv, label_column="label"), load(tmp_path / "data.parquet", label_column="label")
    assert torch.allclose(a.x, b.x, atol=1e-6) and a.spec.columns == b.spec.columns
    assert torch.equal(a.y, b.y)


def test_table_columns_subset(table_csv):
    d = load(table_csv, columns=["age", "color"])
    assert d.spec.columns == ("age", "color=blue", "color=green", "color=red") and d.y is None
    with pytest.raises(DataError, match="Column 'height' is missing from .*data.csv; its columns are: age"):
        load(table_csv, columns=["height"])


def test_table_data_spec_reapplies_training_preprocessing(tmp_path, table_csv):
    train = load(table_csv, label_column="label")
    new = pd.read_csv(table_csv).iloc[[5, 2]]
    new = new[list(reversed(new.columns))]  # column order does not matter
    new.to_csv(tmp_path / "new.csv", index=False)
    d = load(tmp_path / "new.csv", data_spec=train.spec)
    assert torch.allclose(d.x, train.x[[5, 2]], atol=1e-6)
    assert torch.equal(d.y, train.y[[5, 2]])
    assert torch.allclose(apply_spec(new, train.spec), train.x[[5, 2]], atol=1e-6)


def test_table_missing_column_with_spec(tmp_path, table_csv):
    spec = load(table_csv).spec
    pd.read_csv(table_csv).drop(columns=["age"]).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(
        DataError, match="Column 'age' is missing from .*new.csv; the model was trained on columns: age, income, score"
    ):
        load(tmp_path / "new.csv", data_spec=spec)


def test_table_unknown_category(tmp_path, table_csv):
    spec = load(table_csv).spec
    df = pd.read_csv(table_csv)
    df.loc[3, "color"] = "purple"
    df.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(
        DataError,
        match="Column 'color' of .*new.csv has category 'purple' in row 4, which the model was not trained on; "
        "known categories: blue, green, red",
    ):
        load(tmp_path / "new.csv", data_spec=spec)


def test_table_missing_values(tmp_path):
    (tmp_path / "data.csv").write_text("age,color\n1,red\n2,blue\n,red\n4,\n,blue\n")
    with pytest.raises(
        DataError, match=r"Column 'age' of .*data.csv has 2 missing values \(first in row 3\); fill them .*vaekit impute.*--missing ignore"
    ):
        load(tmp_path / "data.csv")
    with pytest.raises(DataError, match=r"Column 'color' of .* has 1 missing value \(first in row 4\)"):
        load(tmp_path / "data.csv", columns=["color"])


def test_table_text_in_numeric_column(tmp_path):
    rows = "\n".join(str(20 + i) if i != 16 else "unknown" for i in range(30))
    (tmp_path / "data.csv").write_text("age\n" + rows + "\n")
    with pytest.raises(DataError, match=r"Column 'age' of .*data.csv must be numeric; found 'unknown' in row 17\."):
        load(tmp_path / "data.csv")


def test_table_text_in_numeric_column_with_spec(tmp_path, table_csv):
    spec = load(table_csv).spec
    df = pd.read_csv(table_csv)
    df["age"] = df["age"].astype(object)
    df.loc[1, "age"] = "n/a"
    with pytest.raises(DataError, match="Column 'age' of input must be numeric; found 'n/a' in row 2"):
        apply_spec(df, spec)


def test_bad_csv_file(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="is empty; expected a header row"):
        load(tmp_path / "e.csv")


# ------------------------------------------------------------------------------------------ apply_spec
def test_apply_spec_images_and_arrays():
    spec = DataSpec(kind="image", shape=(1, 4, 4), image_mode="L", levels=256)
    rgb = np.zeros((2, 8, 8, 3), np.uint8)
    rgb[..., 1] = 255
    out = apply_spec(rgb, spec)
    assert out.shape == (2, 1, 4, 4)
    assert torch.allclose(out, torch.full_like(out, round(0.587 * 255) / 255))
    flat = np.arange(32, dtype=np.uint8).reshape(2, 16)
    assert torch.allclose(apply_spec(flat, spec).flatten(1), torch.from_numpy(flat / 255).float())
    arr_spec = DataSpec(kind="array", shape=(4,))
    assert apply_spec(torch.ones(3, 4), arr_spec).shape == (3, 4)
    with pytest.raises(DataError, match="^X has 3 features, but the model expects 4.$"):
        apply_spec(np.zeros((2, 3)), arr_spec, name="X")
    with pytest.raises(DataError, match=r"input has 10 features, but the model expects images of shape \(1, 4, 4\)"):
        apply_spec(np.zeros((2, 10)), spec)
    with pytest.raises(DataError, match="trained on a table; pass a pandas DataFrame with columns age"):
        apply_spec(np.zeros((2, 3)), DataSpec(kind="table", shape=(1,), columns=("age",), numeric_columns=("age",),
                                              mean=(0.0,), std=(1.0,)))


def test_apply_spec_pil_images():
    spec = DataSpec(kind="image", shape=(3, 2, 2), image_mode="RGB", levels=256)
    out = apply_spec([Image.new("L", (5, 5), 255), Image.new("RGB", (2, 2), (255, 0, 0))], spec)
    assert out.shape == (2, 3, 2, 2)
    assert torch.equal(out[0], torch.ones(3, 2, 2)) and out[1, :, 0, 0].tolist() == [1.0, 0.0, 0.0]


def test_load_with_data_spec_array_mismatch(tmp_path):
    np.save(tmp_path / "new.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(DataError, match=r"new.npy has 3 features, but the model expects 4\."):
        load(tmp_path / "new.npy", data_spec=DataSpec(kind="array", shape=(4,)))


# ------------------------------------------------------------------------------------------ from_array
def test_from_array_numpy_torch_dataframe():
    d = from_array(torch.rand(5, 3), y=torch.tensor([0, 2, 2, 1, 0]))
    assert d.kind == "array" and d.spec.label_names == ("0", "1", "2")
    img = from_array(np.full((4, 7, 7), 255, np.uint8))
    assert img.shape == (1, 7, 7) and float(img.x.min()) == 1.0
    flat = from_array(np.zeros((4, 2, 3, 3), np.float32), kind="array")
    assert flat.shape == (18,)
    df = make_table(30, seed=1, with_categorical=False)
    t = from_array(df, y="label")
    assert t.kind == "table" and t.spec.label_column == "label" and t.spec.columns == ("age", "income", "score")
    t2 = from_array(df.drop(columns="label"), y=df["label"].to_numpy())
    assert torch.equal(t.x, t2.x) and torch.equal(t.y, t2.y) and t2.spec.label_names == ("high", "low")
    with pytest.raises(DataError, match="has 5 examples but y has 4 labels"):
        from_array(np.zeros((5, 2)), y=[0, 1, 1, 0])
    with pytest.raises(ConfigError, match="The 'kind' parameter of from_array must be one of"):
        from_array(np.zeros((5, 2)), kind="text")


# ------------------------------------------------------------------------------------------ splits
def test_train_test_split_seeded_and_disjoint():
    data = from_array(np.arange(40, dtype=np.float32).reshape(20, 2))
    a_train, a_test = train_test_split(data, test_fraction=0.25, seed=3)
    b_train, b_test = train_test_split(data, test_fraction=0.25, seed=3)
    c_train, c_test = train_test_split(data, test_fraction=0.25, seed=4)
    assert (len(a_train), len(a_test)) == (15, 5)
    assert torch.equal(a_test.x, b_test.x) and not torch.equal(a_test.x, c_test.x)
    train_ids, test_ids = set(a_train.x[:, 0].tolist()), set(a_test.x[:, 0].tolist())
    assert not train_ids & test_ids and len(train_ids | test_ids) == 20
    with pytest.raises(ConfigError, match="The 'test_fraction' parameter of train_test_split"):
        train_test_split(data, test_fraction=1.0)


# ------------------------------------------------------------------------------------------ synthetic
def test_make_blobs_images():
    a, b = make_blobs_images(50, size=8, seed=1), make_blobs_images(50, size=8, seed=1)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, make_blobs_images(50, size=8, seed=2).x)
    assert a.shape == (1, 8, 8) and set(a.x.unique().tolist()) == {0.0, 1.0}
    assert torch.bincount(a.y).tolist() == [10] * 5
    rows, cols = (a.x[:, 0].sum(2) > 0).sum(1), (a.x[:, 0].sum(1) > 0).sum(1)  # occupied rows / columns
    pixels = a.x.sum((1, 2, 3))
    assert torch.all(rows[a.y == 1] == 1) and torch.all(cols[a.y == 1] >= 3)  # horizontal bars
    assert torch.all(cols[a.y == 2] == 1) and torch.all(rows[a.y == 2] >= 3)  # vertical bars
    assert torch.all(pixels[a.y == 0] == rows[a.y == 0] * cols[a.y == 0])  # filled squares
    assert torch.all(pixels[a.y == 4] == rows[a.y == 4])  # diagonals: one pixel per row


def test_make_linear_gaussian_matches_its_covariance():
    d, p = make_linear_gaussian(4000, data_dim=4, latent_dim=2, noise_std=0.3, seed=0)
    x = d.x.numpy().astype(np.float64)
    cov = p["W"] @ p["W"].T + 0.3**2 * np.eye(4)
    np.testing.assert_allclose(x.mean(0), p["b"], atol=0.1)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.15 * np.abs(cov).max())
    assert p["noise_std"] == 0.3 and d.kind == "array"


def test_make_table_deterministic():
    a, b = make_table(40, seed=2), make_table(40, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert list(make_table(5, seed=0, with_categorical=False).columns) == ["age", "income", "score", "label"]
    assert set(a["label"]) == {"high", "low"} and set(a["color"]) <= {"red", "green", "blue"}


# ------------------------------------------------------------------------------------------ load() errors
def test_missing_path_message():
    with pytest.raises(DataError) as info:
        load("x.csv")
    assert str(info.value) == (
        "No such file or folder: 'x.csv'. Expected a builtin name (mnist5k, digits, mnist, fashion-mnist, "
        "kmnist), a folder, a .npz/.npy/.csv/.parquet file, or a .txt text file (one sentence per line)."
    )
    with pytest.raises(DataError, match="Did you mean 'mnist'"):
        load("mnsit")


def test_unsupported_file_and_bad_parameters(tmp_path):
    (tmp_path / "notes.rtf").write_text("hi")  # (.txt is a text corpus since the text kind)
    with pytest.raises(DataError, match=r"unsupported file type '\.rtf'\. Expected a builtin name"):
        load(tmp_path / "notes.rtf")
    with pytest.raises(ConfigError, match="The 'split' parameter of load must be one of 'train', 'test', 'all'"):
        load("digits", split="validation")
    with pytest.raises(ConfigError, match="The 'label_column' parameter of load must be None for builtin 'digits'"):
        load("digits", label_column="y")
    with pytest.raises(ConfigError, match="The 'image_size' parameter of load must be an int >= 1"):
        load("digits", image_size=(0, 3))
    with pytest.raises(ConfigError, match="The 'mode' parameter of load must be one of 'L', 'RGB'"):
        load("digits", mode="CMYK")
