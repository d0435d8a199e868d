"""Data larger than memory: lazily decoded image folders and memory maps train through DataLoader
workers, with the same numbers as in memory, and splits that stay on disk (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import vaekit
from vaekit.data.images import ImageFiles
from vaekit.data.sources import Rows


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(20):
            Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    return tmp_path / "imgs"


def test_a_lazy_folder_reads_the_same_examples_and_trains_to_the_same_weights(folder):
    eager = vaekit.datasets.load(str(folder))
    lazy = vaekit.datasets.load(str(folder), lazy=True)
    assert isinstance(lazy.x, ImageFiles) and not lazy.in_memory and lazy.spec == eager.spec
    assert torch.equal(lazy.get(np.array([5, 0, 39])), eager.x[[5, 0, 39]])
    assert torch.equal(lazy.y, eager.y)
    rest, held = lazy.split(0.25, seed=0)
    assert isinstance(rest.x, Rows) and not rest.in_memory  # a split stays on disk
    assert torch.equal(held.get(slice(None)), eager.split(0.25, seed=0)[1].x)
    weights = []
    for data, workers in ((eager, 0), (lazy, 0), (lazy, 1)):
        model = vaekit.VAE.for_data(data, latent_dim=2, net="mlp", hidden_dims=(8,))
        vaekit.fit(model, data, epochs=2, batch_size=16, seed=0, progress=False, num_workers=workers)
        weights.append(model.state_dict())
    # lazy data is read by a planned schedule; 0 or 1 worker processes give the same weights
    assert all(torch.equal(weights[1][k], weights[2][k]) for k in weights[1])
    # and the same schedule as in memory when nothing else draws from the generator between batches
    assert all(torch.allclose(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_memory_mapped_split_is_read_batch_by_batch(tmp_path):
    x = np.random.default_rng(1).random((300, 4)).astype(np.float32)
    np.save(tmp_path / "big.npy", x)
    mm = np.load(tmp_path / "big.npy", mmap_mode="r")
    data = vaekit.Dataset(mm, None, vaekit.DataSpec(kind="array", shape=(4,), name="big"))
    train, val = data.split(0.1, seed=0)
    assert isinstance(train.x, Rows) and train.x.base is mm
    idx = np.array([7, 3, 250])
    assert np.array_equal(train.get(idx).numpy(), x[train.x.index[idx]])
    model = vaekit.VAE.for_data(data, latent_dim=2)
    run = vaekit.fit(model, data, epochs=1, batch_size=64, seed=0, progress=False, num_workers=1)
    assert np.isfinite(run.rows[-1]["val_loss"])


def test_memory_maps_are_read_with_pread_at_the_right_rows(tmp_path):
    from vaekit.data.sources import _file_position, read_rows

    x = np.random.default_rng(2).random((20000, 3)).astype(np.float32)  # > one allocation granule
    np.save(tmp_path / "a.npy", x)
    for mode in ("r", "c"):
        mm = np.load(tmp_path / "a.npy", mmap_mode=mode)
        for view, ref in ((mm, x), (mm[10:], x[10:]), (mm[5000:], x[5000:])):
            assert _file_position(view) is not None
            idx = np.array([0, 1, 2, 7, 8, 4000])
            assert np.array_equal(read_rows(view, idx), ref[idx])
        assert _file_position(mm[::2]) is None  # strided: read through the mapping
        assert np.array_equal(read_rows(mm[::2], np.array([1, 3])), x[::2][[1, 3]])


def test_fit_takes_any_iterable_or_dataloader():
    from torch.utils.data import DataLoader, TensorDataset

    x = torch.rand(96, 1, 4, 4)
    y = torch.arange(96) % 3
    spec = vaekit.DataSpec(kind="image", shape=(1, 4, 4), levels=256, name="loader")
    model = vaekit.VAE.for_data(spec, latent_dim=2, hidden_dims=(8,))
    loader = DataLoader(TensorDataset(x), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    run = vaekit.fit(model, loader, epochs=2, seed=0, progress=False)
    assert len(run) == 2 and run.rows[-1]["step"] == 12 and run.rows[-1]["val_loss"] is None
    # validation data may be given beside it
    val = vaekit.Dataset(x[:32], None, spec)
    run = vaekit.fit(model, loader, epochs=1, seed=0, progress=False, validation_data=val)
    assert np.isfinite(run.rows[-1]["val_loss"])

    def stream():  # no len(): a constant schedule, or max_time for the cosine
        for i in range(0, 96, 32):
            yield {"x": x[i : i + 32]}

    class Again:
        def __iter__(self):
            return stream()

    run = vaekit.fit(model, Again(), epochs=2, seed=0, progress=False, lr_schedule="constant")
    assert run.rows[-1]["step"] == 6
    with pytest.raises(vaekit.ConfigError, match="needs max_time"):
        vaekit.fit(model, Again(), epochs=1, progress=False, lr_schedule="cosine")
    # a conditioned model needs (x, y) pairs; a wrong shape is named
    cvae = vaekit.VAE.for_data(spec, latent_dim=2, hidden_dims=(8,), conditioning="conditional", num_classes=3)
    run = vaekit.fit(cvae, DataLoader(TensorDataset(x, y), batch_size=32), epochs=1, progress=False)
    assert np.isfinite(run.rows[-1]["train_loss"])
    with pytest.raises(vaekit.DataError, match="has none: yield \\(x, y\\) pairs"):
        vaekit.fit(cvae, loader, epochs=1, progress=False)
    with pytest.raises(vaekit.DataError, match=r"x has shape \(16, 5\)"):
        vaekit.fit(model, [torch.rand(16, 5)], epochs=1, progress=False, lr_schedule="constant")
    with pytest.raises(vaekit.DataError, match="iterable of batches"):
        vaekit.fit(model, x.numpy(), epochs=1, progress=False)


def test_a_parquet_table_streams_row_group_by_row_group(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from vaekit.data.parquet import ParquetRows

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"age": rng.integers(18, 90, 300), "income": rng.normal(5e4, 1e4, 300),
                       "city": rng.choice(["Oslo", "Paris", "Rome"], 300), "label": rng.choice(["a", "b"], 300)})
    df.to_parquet(tmp_path / "t.parquet", row_group_size=50)
    eager = vaekit.datasets.load(str(tmp_path / "t.parquet"), label_column="label")
    lazy = vaekit.datasets.load(str(tmp_path / "t.parquet"), label_column="label", lazy=True)
    assert isinstance(lazy.x, ParquetRows) and len(lazy.x.starts) == 7
    assert lazy.spec.columns == eager.spec.columns and lazy.spec.categories == eager.spec.categories
    np.testing.assert_allclose(lazy.spec.mean, eager.spec.mean, rtol=1e-9)
    np.testing.assert_allclose(lazy.spec.std, eager.spec.std, rtol=1e-7)
    idx = np.array([299, 0, 120, 51])
    np.testing.assert_allclose(lazy.get(idx).numpy(), eager.x[idx].numpy(), rtol=1e-5, atol=1e-6)
    assert torch.equal(lazy.y, eager.y)
    # training shuffles row groups, then rows within windows of cached row groups
    model = vaekit.VAE.for_data(lazy, latent_dim=2)
    run = vaekit.fit(model, lazy, epochs=2, batch_size=32, seed=0, progress=False)
    assert np.isfinite(run.rows[-1]["val_loss"]) and len(lazy.x._cache) <= lazy.x.cache_size
    from vaekit.data.samplers import TrainBatches

    plan = TrainBatches(lazy, 32, torch.Generator().manual_seed(0)).plan()
    rows = torch.cat([mine for mine, _, _ in plan]).numpy()
    assert sorted(rows.tolist()) == list(range(300))
    # reading an epoch decodes each row group once (shuffled in windows of the cached row groups)
    import vaekit.data.parquet as pq_mod

    decoded = []
    real = pq_mod.encode_table

    def counting(df, spec, source, **kw):
        decoded.append(source)
        return real(df, spec, source, **kw)

    pq_mod.encode_table = counting
    try:
        lazy.x._cache.clear()
        for mine, _, _ in plan:
            lazy.get(mine.numpy())
    finally:
        pq_mod.encode_table = real
    assert len(decoded) == 6 and len(set(decoded)) == 6


def test_review_fixes_for_streamed_data(tmp_path):
    # negative rows of a memory map mean what numpy means; rows past the end are an IndexError
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "a.npy", x)
    data = vaekit.datasets.from_array(np.load(tmp_path / "a.npy", mmap_mode="r"))
    assert np.array_equal(data.get(np.array([-1, 0])).numpy(), x[[-1, 0]])
    with pytest.raises(IndexError, match="out of range"):
        data.get(np.array([4]))
    # a truncated file in a lazy folder is named when it is read
    from vaekit.data.images import ImageFiles

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes((tmp_path / "ok.png").read_bytes()[:40])
    with pytest.raises(vaekit.DataError, match="bad.png"):
        ImageFiles([tmp_path / "ok.png", tmp_path / "bad.png"], "RGB", (4, 4))[np.array([0, 1])]


def test_lazy_parquet_std_has_no_cancellation(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from vaekit.data.parquet import parquet_spec

    v = 1.7e9 + np.random.default_rng(0).normal(0, 5, 1000)  # a timestamp-like column
    pd.DataFrame({"t": v}).to_parquet(tmp_path / "t.parquet", row_group_size=100)
    spec, _ = parquet_spec(tmp_path / "t.parquet", name="t")
    assert spec.std[0] == pytest.approx(float(np.std(v)), rel=1e-6)
    assert spec.mean[0] == pytest.approx(float(np.mean(v)), rel=1e-12)


def test_config_replace_net_takes_the_new_familys_options():
    cfg = vaekit.ModelConfig(data_shape=(1, 8, 8), latent_dim=2)
    assert cfg.replace(net="conv").net_options.channels == (32, 64)
    assert cfg.replace(net="conv").replace(net="mlp").net_options == cfg.net_options


def test_the_validation_set_of_streamed_grey_images_is_binarised_row_by_row(tmp_path):
    from vaekit.data.samplers import BinarizedRows

    x = np.random.default_rng(4).random((50, 1, 4, 4)).astype(np.float32)
    np.save(tmp_path / "g.npy", x)
    mm = np.load(tmp_path / "g.npy", mmap_mode="r")
    b = BinarizedRows(mm, seed=1)
    whole = b[np.arange(50)]
    assert set(np.unique(whole)) <= {0.0, 1.0}
    assert np.array_equal(b[np.array([7, 3])], whole[[7, 3]])  # the same draws whichever rows are read together
    data = vaekit.Dataset(mm, None, vaekit.DataSpec(kind="image", shape=(1, 4, 4), levels=256))
    model = vaekit.VAE.for_data(data, latent_dim=2, hidden_dims=(8,))
    run = vaekit.fit(model, data, epochs=1, batch_size=16, binarize="dynamic", progress=False)
    assert np.isfinite(run.rows[-1]["val_loss"])
