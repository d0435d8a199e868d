"""Configs are frozen, validated, strict about keys, and round-trip through JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import vaekit
from vaekit import CheckpointError, ConfigError
from vaekit.config import DataSpec, ModelConfig, TrainConfig


def test_error_message_format():
    with pytest.raises(ConfigError, match=r"^The 'latent_dim' parameter of VAE must be an int >= 1\. Got 0 instead\.$"):
        ModelConfig(data_shape=(4,), latent_dim=0)
    with pytest.raises(ConfigError, match=r"^The 'beta' parameter of VAE must be a float >= 0\. Got -1 instead\.$"):
        ModelConfig(data_shape=(4,), beta=-1)
    with pytest.raises(ConfigError, match=r"The 'likelihood' parameter of VAE must be one of 'bernoulli'"):
        ModelConfig(data_shape=(4,), likelihood="poisson")
    with pytest.raises(ConfigError, match=r"The 'lr' parameter of fit must be a float > 0\. Got 0 instead\."):
        TrainConfig(lr=0)
    with pytest.raises(ConfigError, match=r"'latent_dim' parameter of VAE must be an int >= 1\. Got 2.5 instead"):
        ModelConfig(data_shape=(4,), latent_dim=2.5)
    with pytest.raises(ConfigError, match="'conv' only for image data"):
        ModelConfig(data_shape=(4,), net="conv")


@pytest.mark.parametrize("bad", [-3, 0])
def test_latent_dim_must_be_positive_everywhere(bad):
    spec = DataSpec(kind="array", shape=(4,))
    with pytest.raises(ConfigError, match="latent_dim"):
        vaekit.VAE.for_data(spec, latent_dim=bad)
    assert issubclass(ConfigError, ValueError)


def test_frozen():
    cfg = ModelConfig(data_shape=(4,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.latent_dim = 3
    assert cfg.replace(latent_dim=3).latent_dim == 3 and cfg.latent_dim == 16


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError, match=r"Unknown key 'latent_dims' in .*Did you mean 'latent_dim'\?"):
        ModelConfig.from_dict({"data_shape": [4], "latent_dims": 3})
    with pytest.raises(ConfigError, match=r"Unknown key 'epoch'.*Did you mean 'epochs'"):
        TrainConfig().replace(epoch=3)


@pytest.mark.parametrize("cfg", [
    ModelConfig(data_shape=(1, 28, 28), net="conv", net_options={"channels": (8, 16)}, beta=0.5),
    TrainConfig(epochs=3, grad_clip=None, max_time=12.5),
    DataSpec(kind="table", shape=(3,), columns=("a", "b_x", "b_y"), categories=(("x", "y"),), mean=(1.5,)),
])
def test_json_round_trip(cfg):
    again = type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_unknown_key_in_config_json_is_a_checkpoint_error(tmp_path):
    model = vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,)))
    vaekit.save(model, tmp_path / "run")
    doc = json.loads((tmp_path / "run" / "config.json").read_text())
    assert {"format_version", "vaekit_version", "torch_version", "class_name", "model", "train", "data"} <= set(doc)
    assert doc["vaekit_version"] == vaekit.__version__ and doc["torch_version"] == torch.__version__
    doc["model"]["latent_dimm"] = 2
    (tmp_path / "run" / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="Unknown key 'latent_dimm'.*Did you mean 'latent_dim'"):
        vaekit.load(tmp_path / "run")


def test_load_errors(tmp_path):
    with pytest.raises(CheckpointError, match="is not a run directory"):
        vaekit.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="has no config.json"):
        vaekit.load(tmp_path / "empty")
    model = vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,)))
    vaekit.save(model, tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        vaekit.load(tmp_path / "run")


def test_weights_that_do_not_match_the_config(tmp_path):
    vaekit.save(vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,))), tmp_path / "a")
    vaekit.save(vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=3, hidden_dims=(8,))), tmp_path / "b")
    (tmp_path / "a" / "model.safetensors").write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match=r"'encoder.net.2.weight' has shape \(6, 8\) in the file but \(4, 8\) in the model"):
        vaekit.load(tmp_path / "a")
    vaekit.save(vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8, 8))), tmp_path / "c")
    (tmp_path / "a" / "model.safetensors").write_bytes((tmp_path / "c" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match=r"unexpected keys \['decoder.net.4.bias'"):
        vaekit.load(tmp_path / "a")


def test_save_refuses_non_empty_dir_and_writes_atomically(tmp_path):
    model = vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,)))
    vaekit.save(model, tmp_path / "run")
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="not empty"):
        vaekit.save(vaekit.VAE(ModelConfig(data_shape=(4,), latent_dim=2, hidden_dims=(8,))).initialize(1), tmp_path / "run")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_net_options_are_a_sub_config_of_the_net_family(tmp_path):
    cfg = ModelConfig(data_shape=(3, 8, 8), net="conv", net_options={"channels": [4, 8], "residual_blocks": 1})
    assert cfg.net_options.channels == (4, 8) and cfg.net_options.residual_blocks == 1
    assert ModelConfig(data_shape=(3, 8, 8), net="conv").net_options.channels == (32, 64)  # the family's default
    with pytest.raises(ConfigError, match="Unknown key 'chanels' in net_options. Did you mean 'channels'"):
        ModelConfig(data_shape=(3, 8, 8), net="conv", net_options={"chanels": (4,)})
    with pytest.raises(ConfigError, match="Unknown key 'channels' in net_options"):
        ModelConfig(data_shape=(8,), net="mlp", net_options={"channels": (4,)})  # mlp has no options of its own
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    # configs of format_version 1 kept conv options as flat fields: they still load
    old = {k: v for k, v in cfg.to_dict().items() if k != "net_options"} | {"conv_channels": [4, 8], "residual_blocks": 1}
    assert ModelConfig.from_dict(old) == cfg
    # the CLI's flat flags and a preset's options combine (colour images: conv with channels 32, 64, 128)
    rgb = DataSpec(kind="image", shape=(3, 8, 8), levels=256)
    assert vaekit.VAE.for_data(rgb, residual_blocks=1).config.net_options == type(cfg.net_options)(
        channels=(32, 64, 128), residual_blocks=1)
    assert vaekit.VAE.for_data(rgb, conv_channels=(8,)).config.net_options.channels == (8,)

