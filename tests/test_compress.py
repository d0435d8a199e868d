"""Bits-back compression (vaekit.tasks.compress): exact round trips, code length, file errors, lossy codes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("constriction")

import vaekit  # noqa: E402
from vaekit.config import DataSpec, ModelConfig  # noqa: E402
from vaekit.data import Dataset  # noqa: E402
from vaekit.errors import CheckpointError, ConfigError, DataError  # noqa: E402
from vaekit.tasks import compress as vc  # noqa: E402
from vaekit.tasks.compress import compress, compress_files, decompress, decompress_file, read_header  # noqa: E402

from .conftest import make_images  # noqa: E402

SHAPE = (1, 8, 8)


def _spec(name):
    return DataSpec(kind="image", shape=SHAPE, levels=256, image_mode="L", name=name)


def _train(likelihood: str, x: torch.Tensor, epochs: int, **model_options) -> vaekit.VAE:
    model = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=4, hidden_dims=(64,), likelihood=likelihood,
                                   **model_options), data_spec=_spec(likelihood))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: one thread is ~10x faster than two on a busy 2-core machine
    try:
        vaekit.fit(model, Dataset(x, None, _spec(likelihood)), epochs=epochs, batch_size=32, lr=3e-3, seed=0,
                   val_fraction=0.0, early_stopping_patience=None, progress=False)
    finally:
        torch.set_num_threads(threads)
    return model.eval()


@pytest.fixture(scope="module")
def binary_images() -> np.ndarray:
    """(200, 8, 8) uint8 in {0, 1}: thresholded blobs with a little pixel noise."""
    g = torch.Generator().manual_seed(1)
    x = make_images(200, SHAPE, seed=3)[:, 0]
    noise = torch.rand(x.shape, generator=g) < 0.03
    return ((x > 0.5) ^ noise).to(torch.uint8).numpy()


@pytest.fixture(scope="module")
def byte_images() -> np.ndarray:
    """(200, 8, 8) uint8 0..255 blobs."""
    return (make_images(200, SHAPE, seed=4)[:, 0] * 255).round().to(torch.uint8).numpy()


@pytest.fixture(scope="module")
def binary_model(binary_images) -> vaekit.VAE:
    x = torch.from_numpy(binary_images[:, None].astype(np.float32))
    return _train("bernoulli", x, epochs=40)


@pytest.fixture(scope="module")
def byte_model(byte_images) -> vaekit.VAE:
    x = torch.from_numpy(byte_images[:, None].astype(np.float32) / 255)
    return _train("discretized_logistic", x, epochs=40)


def _exact(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("form", ["uint8", "bool", "float32", "nchw", "flat", "torch", "zero255", "float64_torch"])
def test_binary_round_trip_is_exact(binary_model, binary_images, form):
    x = binary_images[:60]
    x = {
        "uint8": x,
        "bool": x.astype(bool),
        "float32": x.astype(np.float32),
        "nchw": x[:, None],
        "flat": x.reshape(60, -1).astype(np.int64),
        "torch": torch.from_numpy(x.astype(np.float32)),
        "zero255": x * np.uint8(255),
        "float64_torch": torch.from_numpy(x[:, None].astype(np.float64)),
    }[form]
    assert _exact(x, decompress(binary_model, compress(binary_model, x)))


@pytest.mark.parametrize("form", ["uint8", "float32", "float64", "nhwc", "torch", "int16"])
def test_8bit_round_trip_is_exact(byte_model, byte_images, form):
    x = byte_images[:40]
    x = {
        "uint8": x,
        "float32": x.astype(np.float32) / np.float32(255),
        "float64": x[:, None].astype(np.float64) / 255.0,
        "nhwc": x[..., None],
        "torch": torch.from_numpy(x[:, None].astype(np.float32) / 255),
        "int16": x.astype(np.int16),
    }[form]
    assert _exact(x, decompress(byte_model, compress(byte_model, x)))


def test_categorical256_round_trip_is_exact(byte_images):
    model = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=3, hidden_dims=(16,), likelihood="categorical256"))
    model.initialize(0)
    x = byte_images[:20]
    assert _exact(x, decompress(model, compress(model, x)))


def test_coding_is_deterministic_and_batch_schedule_travels(binary_model, binary_images):
    x = binary_images[:80]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = compress(binary_model, x)
        torch.set_num_threads(1)
        b = compress(binary_model, x)
    finally:
        torch.set_num_threads(threads)
    assert a == b
    c = compress(binary_model, x, batch_size=7, latent_precision=8)
    assert read_header(c)["max_batch"] == 7 and read_header(c)["latent_precision"] == 8
    assert _exact(x, decompress(binary_model, c))


def test_header_records_identity_shapes_and_checksum(binary_model, binary_images):
    head = read_header(compress(binary_model, binary_images[:10]))
    assert head["format_version"] == vc.FORMAT_VERSION
    assert head["model_sha256"] == vc.model_fingerprint(binary_model)
    assert (head["n"], head["array_shape"], head["dtype"]) == (10, [10, 8, 8], "|u1")
    assert len(head["data_sha256"]) == 64 and head["mode"] == "lossless"


# ------------------------------------------------------------------------------------------ code length
def _neg_elbo_bits(model, x: torch.Tensor) -> float:
    with torch.no_grad():
        elbo = model.elbo(x, generator=torch.Generator().manual_seed(0), n_samples=64)
    return float(-elbo.double().sum()) / math.log(2)


@pytest.mark.parametrize("kind", ["binary", "byte"])
def test_code_length_is_close_to_the_negative_elbo(kind, binary_model, byte_model, binary_images, byte_images):
    # The stack grows by -log p(x|z) - log p(z) + log q(z|x) per image, whose mean over z ~ q is the negative
    # ELBO; on top come the initial clean bits (a few dozen bytes) and the discretisation of z.
    # Slack: 2% of the neg ELBO plus the initial words plus 64 bits.
    model, images = (binary_model, binary_images) if kind == "binary" else (byte_model, byte_images)
    scale = 1.0 if kind == "binary" else 255.0
    x = torch.from_numpy(images[:, None].astype(np.float32) / scale)
    target = _neg_elbo_bits(model, x)
    head = read_header(blob := compress(model, images))
    payload = 8 * head["payload_bytes"]
    assert abs(payload - target) <= 0.02 * target + 32 * head["initial_words"] + 64, (payload, target)
    # a trained model beats storing the pixels raw
    assert 8 * len(blob) < images.size * (1 if kind == "binary" else 8)


@pytest.mark.parametrize("prior", ["mixture", "vamp"])
def test_mixture_priors_code_with_bits_back_on_the_component(prior, binary_images):
    # z is pushed with one component N(mu_c, sigma_c^2) and c itself is coded with bits back (popped with
    # p(c|z), pushed with pi), so the stack still grows by -log p(z) and the code length tracks the ELBO.
    x = torch.from_numpy(binary_images[:, None].astype(np.float32))
    model = _train("bernoulli", x, epochs=40, prior=prior, prior_options={"components": 5})
    blob = compress(model, binary_images)
    assert _exact(binary_images, decompress(model, blob))
    head = read_header(blob)
    target = _neg_elbo_bits(model, x)
    payload = 8 * head["payload_bytes"]
    assert abs(payload - target) <= 0.02 * target + 32 * head["initial_words"] + 64, (payload, target)
    # every component is in play: a model whose components are all alike would not test the bits back on c
    with torch.no_grad():
        _, loc, _ = model.prior.mixture_components()
    assert float(loc.std(0).mean()) > 0.05
    # lossy codes: the active dimensions come from the spread of the posterior means (no per-dimension KL)
    lossy = compress(model, binary_images, lossy=True, bits=6)
    rec = decompress(model, lossy)
    assert rec.shape == binary_images.shape and read_header(lossy)["active_dims"]
    assert float(np.mean(rec != binary_images)) < float(np.mean(binary_images != binary_images.mean(0).round()))


def test_a_hierarchical_prior_cannot_code():
    model = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=4, hidden_dims=(8,), prior="ladder"))
    with pytest.raises(ConfigError, match="hierarchical prior has several latent layers"):
        compress(model, np.zeros((2, 8, 8), np.uint8))


def test_untrained_model_still_round_trips_but_codes_long(binary_images):
    model = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=4, hidden_dims=(64,)))
    model.initialize(5)
    x = binary_images[:30]
    blob = compress(model, x)
    assert _exact(x, decompress(model, blob))


# ------------------------------------------------------------------------------------------ file errors
@pytest.fixture(scope="module")
def blob(binary_model, binary_images) -> bytes:
    return compress(binary_model, binary_images[:50])


@pytest.mark.parametrize("where", [0.5, 0.97, "header"])
def test_corrupted_byte_is_a_checksum_error(binary_model, blob, where):
    bad = bytearray(blob)
    i = 30 if where == "header" else int(len(bad) * where)
    bad[i] ^= 0x10
    with pytest.raises(DataError, match="checksum mismatch|corrupted"):
        decompress(binary_model, bytes(bad))


@pytest.mark.parametrize("keep", [-1, -40, 0.5, 12, 3])
def test_truncated_file_is_reported(binary_model, blob, keep):
    n = int(len(blob) * keep) if isinstance(keep, float) else (len(blob) + keep if keep < 0 else keep)
    with pytest.raises(DataError, match="truncated"):
        decompress(binary_model, blob[:n])


def test_trailing_bytes_and_foreign_files_are_rejected(binary_model, blob):
    with pytest.raises(DataError, match="unexpected bytes after its end"):
        decompress(binary_model, blob + b"\0")
    with pytest.raises(DataError, match="not a vaekit compressed file"):
        decompress(binary_model, b"PK\x03\x04 this is a zip file, not a vkz")
    with pytest.raises(DataError, match="not a vaekit compressed file"):
        decompress(binary_model, b"")


def test_wrong_model_is_a_checkpoint_error(blob):
    other = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=4, hidden_dims=(64,)))
    other.initialize(1)
    with pytest.raises(CheckpointError, match=r"compressed with a different model \(hash [0-9a-f]{16}…\), expected"):
        decompress(other, blob)


def test_decoding_with_different_numerics_never_returns_wrong_data(binary_model, blob, monkeypatch):
    # A model whose fingerprint matches but whose outputs differ (as on another platform) must fail the
    # data checksum, not return other images.
    other = vaekit.VAE(binary_model.config)
    other.load_state_dict(binary_model.state_dict())
    with torch.no_grad():
        for p in other.decoder.parameters():
            p.add_(0.01)
    monkeypatch.setattr(vc, "model_fingerprint", lambda m: read_header(blob)["model_sha256"])
    with pytest.raises(DataError, match="checksum mismatch"):
        decompress(other, blob)


def test_data_checksum_is_verified_after_decoding(binary_model, blob):
    head, payload = vc._unpack(blob)
    head["data_sha256"] = "0" * 64  # a file whose stream decodes cleanly but to other data than recorded
    forged = vc._pack({k: v for k, v in head.items() if k != "payload_bytes"}, payload)
    with pytest.raises(DataError, match="checksum mismatch after decoding; the decoded data differs"):
        decompress(binary_model, forged)


def test_newer_format_version_is_refused(binary_model, binary_images):
    head = read_header(compress(binary_model, binary_images[:3]))
    head["format_version"] = vc.FORMAT_VERSION + 1
    data = vc._pack({k: v for k, v in head.items() if k != "payload_bytes"}, b"")
    with pytest.raises(DataError, match="newer than this vaekit reads"):
        decompress(binary_model, data)


# ------------------------------------------------------------------------------------------ empty input
@pytest.mark.parametrize("lossy", [False, True])
@pytest.mark.parametrize("shape", [(0, 8, 8), (0, 1, 8, 8), (0, 64)])
def test_empty_input_gives_a_valid_file(binary_model, byte_model, shape, lossy):
    for model in (binary_model, byte_model):
        x = np.zeros(shape, dtype=np.uint8)
        blob = compress(model, x, lossy=lossy)
        assert read_header(blob)["n"] == 0
        assert _exact(x, decompress(model, blob))


# ------------------------------------------------------------------------------------------ bad inputs
def test_inputs_that_cannot_be_coded_losslessly(binary_model, byte_model, binary_images, byte_images):
    with pytest.raises(DataError, match="compresses binary images only"):
        compress(binary_model, byte_images[:5])
    with pytest.raises(DataError, match="not exactly on the 256-level grid"):
        compress(byte_model, byte_images[:5].astype(np.float32) / 255 + np.float32(1e-3))
    with pytest.raises(DataError, match="not exactly on"):
        compress(byte_model, np.full((2, 8, 8), np.nan, dtype=np.float32))
    with pytest.raises(DataError, match=r"integer values in \[-1, \d+\]"):
        compress(byte_model, np.concatenate([byte_images[:2].astype(np.int32), -np.ones((1, 8, 8), np.int32)]))
    with pytest.raises(DataError, match=r"x has shape \(8, 8\).*batch axis"):
        compress(byte_model, byte_images[0])
    with pytest.raises(DataError, match="numpy array or a torch.Tensor"):
        compress(byte_model, byte_images.tolist())


def test_models_that_cannot_code():
    gauss = vaekit.VAE(ModelConfig(data_shape=(6,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian"))
    with pytest.raises(ConfigError, match="discrete likelihood"):
        compress(gauss, np.zeros((2, 6), np.float32))
    ae = vaekit.Autoencoder(ModelConfig(data_shape=SHAPE, latent_dim=2, hidden_dims=(8,)))
    with pytest.raises(ConfigError, match="Autoencoder"):
        compress(ae, np.zeros((2, 8, 8), np.uint8))
    model = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=2, hidden_dims=(8,)))
    with pytest.raises(ConfigError, match="The 'bits' parameter of compress must be an int in the range"):
        compress(model, np.zeros((2, 8, 8), np.uint8), lossy=True, bits=0)


# ------------------------------------------------------------------------------------------ lossy codes
def test_lossy_rate_grows_and_distortion_falls_with_bits(byte_model, byte_images):
    x = byte_images
    rates, mses = [], []
    for bits in (1, 2, 4, 8):
        blob = compress(byte_model, x, lossy=True, bits=bits)
        head = read_header(blob)
        rec = decompress(byte_model, blob)
        assert rec.shape == x.shape and rec.dtype == x.dtype
        assert head["mode"] == "lossy" and 8 * head["payload_bytes"] <= bits * len(head["active_dims"]) * len(x) + 32
        rates.append(head["payload_bytes"])
        mses.append(float(np.mean((rec.astype(np.float64) - x) ** 2)))
    assert rates == sorted(rates) and len(set(rates)) == len(rates), rates
    assert all(b <= a * 1.02 for a, b in zip(mses, mses[1:])) and mses[-1] < 0.8 * mses[0], mses


# ------------------------------------------------------------------------------------------ files (CLI bodies)
def test_compress_files_npz_folder_and_npy(tmp_path, binary_model, binary_images):
    from PIL import Image

    vaekit.save(binary_model, tmp_path / "run")
    run = tmp_path / "run"
    # .npz with a chosen key -> .npz with the same key
    np.savez(tmp_path / "d.npz", x_test=binary_images[:20], y_test=np.arange(20))
    res = compress_files(run, [tmp_path / "d.npz"], tmp_path / "d.vkz")
    assert res.n == 20 and res.compressed_bytes == (tmp_path / "d.vkz").stat().st_size
    out = decompress_file(run, tmp_path / "d.vkz", tmp_path / "back.npz")
    with np.load(out.path) as f:
        assert _exact(binary_images[:20], f["x_test"])
    # a folder of 1-bit PNGs -> a folder with the same names and pixels
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    for i in range(5):
        Image.fromarray(binary_images[i].astype(bool)).save(tmp_path / "imgs" / ("sub" if i % 2 else "") / f"{i}.png")
    compress_files(run, [tmp_path / "imgs"], tmp_path / "imgs.vkz")
    res = decompress_file(run, tmp_path / "imgs.vkz", tmp_path / "imgs_back")
    assert sorted(p.relative_to(tmp_path / "imgs_back").as_posix() for p in res.files) == [
        "0.png", "2.png", "4.png", "sub/1.png", "sub/3.png"]
    for p in res.files:
        orig = np.asarray(Image.open(tmp_path / "imgs" / p.relative_to(tmp_path / "imgs_back")))
        assert _exact(orig, np.asarray(Image.open(p)))
    # .npy in, default names out; an existing output is refused without overwrite
    np.save(tmp_path / "a.npy", binary_images[:7])
    res = compress_files(run, [tmp_path / "a.npy"])
    assert res.path == tmp_path / "a.npy.vkz"
    with pytest.raises(DataError, match="already exists"):
        compress_files(run, [tmp_path / "a.npy"])
    (tmp_path / "a.npy").unlink()
    back = decompress_file(run, res.path)
    assert back.path == tmp_path / "a.npy" and _exact(binary_images[:7], np.load(back.path))


def test_compress_files_errors(tmp_path, binary_model, binary_images):
    vaekit.save(binary_model, tmp_path / "run")
    np.savez(tmp_path / "two.npz", x_train=binary_images[:3], x_test=binary_images[3:6])
    with pytest.raises(DataError, match="--key"):
        compress_files(tmp_path / "run", [tmp_path / "two.npz"], tmp_path / "o.vkz")
    with pytest.raises(DataError, match="No such file or folder"):
        compress_files(tmp_path / "run", [tmp_path / "missing.npy"], tmp_path / "o.vkz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is empty: it holds no image files"):
        compress_files(tmp_path / "run", [tmp_path / "empty"], tmp_path / "e.vkz")
    np.save(tmp_path / "empty.npy", np.zeros((0, 8, 8), np.uint8))  # an empty array is still a valid file
    res = compress_files(tmp_path / "run", [tmp_path / "empty.npy"], tmp_path / "e.vkz")
    assert res.n == 0
    back = decompress_file(tmp_path / "run", tmp_path / "e.vkz", tmp_path / "e.npy")
    assert np.load(back.path).shape == (0, 8, 8)
    other = vaekit.VAE(binary_model.config)
    other.initialize(9)
    vaekit.save(other, tmp_path / "other")
    with pytest.raises(CheckpointError, match="different model"):
        decompress_file(tmp_path / "other", tmp_path / "e.vkz", tmp_path / "e2.npy")


def test_fingerprint_survives_save_and_load(tmp_path, binary_model, blob, binary_images):
    vaekit.save(binary_model, tmp_path / "run")
    loaded = vaekit.load(tmp_path / "run")
    assert vc.model_fingerprint(loaded) == vc.model_fingerprint(binary_model)
    assert _exact(binary_images[:50], decompress(loaded, blob))


# ------------------------------------------------------------------------------------------ command line
def test_cli_compress_and_decompress(tmp_path, binary_model, binary_images):
    from typer.testing import CliRunner

    from vaekit.cli import app

    vaekit.save(binary_model, tmp_path / "run")
    np.save(tmp_path / "x.npy", binary_images[:40])
    runner = CliRunner()
    res = runner.invoke(app, ["compress", str(tmp_path / "run"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.vkz"), "-q"])
    assert res.exit_code == 0, res.output
    assert "bits/dim" in res.output and "x.vkz" in res.output
    res = runner.invoke(app, ["decompress", str(tmp_path / "run"), str(tmp_path / "x.vkz"), "-o", str(tmp_path / "y.npy"), "-q"])
    assert res.exit_code == 0, res.output
    assert _exact(binary_images[:40], np.load(tmp_path / "y.npy"))
    (tmp_path / "t.vkz").write_bytes((tmp_path / "x.vkz").read_bytes()[:-7])
    res = runner.invoke(app, ["decompress", str(tmp_path / "run"), str(tmp_path / "t.vkz"), "-o", str(tmp_path / "z.npy")])
    assert res.exit_code == 2 and "truncated" in res.output and not (tmp_path / "z.npy").exists()
    # an existing output is never replaced without --overwrite
    res = runner.invoke(app, ["decompress", str(tmp_path / "run"), str(tmp_path / "x.vkz"), "-o", str(tmp_path / "y.npy")])
    assert res.exit_code == 2 and "already exists" in res.output
    # a model with a density likelihood is refused with the fix in the message
    gauss = vaekit.VAE(ModelConfig(data_shape=SHAPE, latent_dim=2, hidden_dims=(8,), likelihood="gaussian"))
    vaekit.save(gauss.initialize(0), tmp_path / "gauss")
    res = runner.invoke(app, ["compress", str(tmp_path / "gauss"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "g.vkz")])
    assert res.exit_code == 2 and "beta_binomial" in res.output and not (tmp_path / "g.vkz").exists()


def test_cli_lossy_codes(tmp_path, byte_model, byte_images):
    from typer.testing import CliRunner

    from vaekit.cli import app

    vaekit.save(byte_model, tmp_path / "run")
    np.savez(tmp_path / "x.npz", x_test=byte_images[:30])
    runner = CliRunner()
    res = runner.invoke(app, ["compress", str(tmp_path / "run"), str(tmp_path / "x.npz"), "-o", str(tmp_path / "x.vkz"),
                              "--lossy", "--bits", "4", "-q"])
    assert res.exit_code == 0, res.output
    assert "lossy" in res.output and read_header((tmp_path / "x.vkz").read_bytes())["bits"] == 4
    res = runner.invoke(app, ["decompress", str(tmp_path / "run"), str(tmp_path / "x.vkz"), "-o", str(tmp_path / "y.npz"), "-q"])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "y.npz") as f:
        back = f["x_test"]
    assert back.shape == byte_images[:30].shape and back.dtype == np.uint8
    assert not np.array_equal(back, byte_images[:30])  # lossy: the model's reconstruction, not the input
    assert read_header((tmp_path / "x.vkz").read_bytes())["payload_bytes"] < 0.1 * byte_images[:30].nbytes


def test_top_level_api_and_beta_binomial_round_trip(byte_images):
    x = torch.from_numpy(byte_images[:, None].astype(np.float32) / 255)
    model = _train("beta_binomial", x, epochs=15)
    blob = vaekit.compress(model, byte_images[:50])
    assert _exact(byte_images[:50], vaekit.decompress(model, blob))
    target = _neg_elbo_bits(model, x[:50])
    payload = 8 * read_header(blob)["payload_bytes"]
    assert abs(payload - target) <= 0.02 * target + 32 * read_header(blob)["initial_words"] + 64, (payload, target)


def test_a_run_trained_with_the_cli_defaults_compresses(tmp_path):
    # `vaekit train` on grey digits takes the default preset (Bernoulli, learned mixture prior); its run codes
    # binarised digits losslessly from the command line
    from typer.testing import CliRunner

    from vaekit.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["train", "digits", "--out", str(tmp_path / "run"), "--epochs", "1", "--hidden-dims", "32",
                              "--limit", "300", "-q"])
    assert res.exit_code == 0, res.output
    assert vaekit.load(tmp_path / "run").config.prior == "mixture"
    x = (vaekit.datasets.load("digits").x[:30, 0].numpy() > 0.5).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    res = runner.invoke(app, ["compress", str(tmp_path / "run"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.vkz"), "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["decompress", str(tmp_path / "run"), str(tmp_path / "x.vkz"), "-o", str(tmp_path / "y.npy"), "-q"])
    assert res.exit_code == 0, res.output
    assert _exact(x, np.load(tmp_path / "y.npy"))
