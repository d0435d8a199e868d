"""Run directories under crashes, damage and hostile edits (issue 16: resume, overwrite, configs, weights).

The kill test is a real ``kill -9`` equivalent: a forked child trains with ``os.replace`` patched to
``os._exit`` just before (or just after) its N-th call, for every N of an uninterrupted run, so no
cleanup code runs; a second child resumes. Every resumed run must end bitwise equal to the
uninterrupted one (one thread), and leave no temp files behind.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import vaekit
from vaekit import CheckpointError
from vaekit.config import DataSpec, ModelConfig
from vaekit.data import Dataset

SPEC = DataSpec(kind="array", shape=(5,), name="tiny")

KILL_SCRIPT = textwrap.dedent(r'''
    import hashlib, json, os, sys
    import torch
    torch.set_num_threads(1)
    import vaekit
    from vaekit.config import DataSpec, ModelConfig
    from vaekit.data import Dataset

    root = sys.argv[1]
    spec = DataSpec(kind="array", shape=(5,), name="tiny")
    data = Dataset(torch.randn(40, 5, generator=torch.Generator().manual_seed(0)), None, spec)
    KW = dict(epochs=2, batch_size=8, seed=0, progress=False, val_fraction=0.25, lr_schedule="cosine")

    def model():
        return vaekit.VAE(ModelConfig(data_shape=(5,), latent_dim=2, hidden_dims=(8,), likelihood="gaussian"))

    def digest(m):
        return hashlib.sha256(b"".join(v.numpy().tobytes() for _, v in sorted(m.state_dict().items()))).hexdigest()

    real_replace = os.replace
    calls = [0]

    def counting(src, dst):
        calls[0] += 1
        return real_replace(src, dst)

    os.replace = counting
    straight = model()
    vaekit.fit(straight, data, out=os.path.join(root, "straight"), **KW)
    n_points = calls[0]
    os.replace = real_replace
    results = []
    for point in range(n_points):
        for when in ("before", "after"):
            run = os.path.join(root, f"kill-{point}-{when}")
            pid = os.fork()
            if pid == 0:  # the child dies at the write point like a kill -9: no cleanup, no atexit
                seen = [0]

                def dying(src, dst):
                    if seen[0] == point and when == "before":
                        os._exit(137)
                    real_replace(src, dst)
                    if seen[0] == point:
                        os._exit(137)
                    seen[0] += 1

                os.replace = dying
                vaekit.fit(model(), data, out=run, **KW)
                os._exit(0)
            os.waitpid(pid, 0)
            pid = os.fork()
            if pid == 0:
                out = {"point": point, "when": when}
                try:
                    resumed = model()
                    vaekit.fit(resumed, data, out=run, resume=True, **KW)
                    out["digest"] = digest(resumed)
                    out["loaded"] = digest(vaekit.load(run))
                except vaekit.CheckpointError as e:
                    out["error"] = str(e)
                leftovers = [str(p) for p in __import__("pathlib").Path(run).rglob(".*")]
                out["leftovers"] = leftovers
                with open(run + ".json", "w") as f:
                    json.dump(out, f)
                os._exit(0)
            os.waitpid(pid, 0)
            with open(run + ".json") as f:
                results.append(json.load(f))
    print(json.dumps({"straight": digest(straight), "n_points": n_points, "results": results}))
''')


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to kill a training process at a write point")
def test_kill_at_every_write_point_then_resume_equals_the_uninterrupted_run(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["n_points"] >= 8  # config, two checkpoints (with their swaps), metrics, final weights
    resumed = 0
    for r in report["results"]:
        assert r["leftovers"] == [], r  # no temp files or staging folders survive a resume
        if "error" in r:
            # killed before the first checkpoint was whole: nothing to resume, and the run says so
            assert "holds no complete checkpoint" in r["error"], r
            assert r["point"] <= 1, r
        else:
            assert r["digest"] == report["straight"] and r["loaded"] == report["straight"], r
            resumed += 1
    assert resumed >= 2 * report["n_points"] - 4


def _model(latent_dim: int = 2) -> vaekit.VAE:
    return vaekit.VAE(ModelConfig(data_shape=(5,), latent_dim=latent_dim, hidden_dims=(8,), likelihood="gaussian"))


def _data(n: int = 32) -> Dataset:
    return Dataset(torch.randn(n, 5, generator=torch.Generator().manual_seed(1)), None, SPEC)


def _train(path: Path, seed: int = 0, **kw) -> vaekit.Run:
    return vaekit.fit(_model(), _data(), out=path, epochs=2, batch_size=8, seed=seed, progress=False, **kw)


def test_overwrite_replaces_the_whole_run(tmp_path):
    run = tmp_path / "run"
    _train(run)
    for stale in ("anomaly.json", "anomaly.safetensors", "eval.json"):
        (run / stale).write_text("{}")
    _train(run, seed=7, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint", "config.json", "metrics.csv", "model.safetensors"]
    assert json.loads((run / "config.json").read_text())["train"]["seed"] == 7
    assert not list(tmp_path.glob(".run.replaced-*"))  # the replaced run is gone once the new one stands


def test_a_failed_overwrite_brings_the_old_run_back(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _train(run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    from vaekit import rundir

    def broken(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir, "write_checkpoint", broken)
    with pytest.raises(OSError, match="No space"):
        _train(run, seed=7, overwrite=True)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert not list(tmp_path.glob(".run.*"))


def test_a_failed_first_run_leaves_no_directory(tmp_path, monkeypatch):
    from vaekit import rundir

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir, "write_checkpoint", full)
    with pytest.raises(OSError):
        _train(tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_killed_overwrite_never_resumes_the_old_model_under_the_new_config(tmp_path):
    run = tmp_path / "run"
    _train(run)
    # an --overwrite --seed 7 run killed right after its config.json: the old files are gone with it
    d = vaekit.rundir.RunDirectory(run, overwrite=True)
    vaekit.rundir.save(_model(), tmp_path / "scratch")  # any config
    (run / "config.json").write_bytes((tmp_path / "scratch" / "config.json").read_bytes())
    d.commit()
    with pytest.raises(CheckpointError, match="holds no complete checkpoint"):
        _train(run, resume=True)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(class_name=["VAE"]), "'class_name' must be a string"),
    (lambda d: d.update(format_version="1"), "'format_version' must be an integer"),
    (lambda d: d["data"].update(label_names=None), "'label_names' parameter of DataSpec"),
    (lambda d: d.update(model=[1, 2]), "'model' section must be a JSON object"),
    (lambda d: d["model"].update(latent_dim="two"), "latent_dim"),
    (lambda d: d.update(class_name="Pickle"), "Unknown model class 'Pickle'"),
])
def test_damaged_config_is_a_checkpoint_error(tmp_path, edit, message):
    _train(tmp_path / "run")
    path = tmp_path / "run" / "config.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=message):
        vaekit.load(tmp_path / "run")


def test_edited_sizes_are_refused_before_allocating(tmp_path):
    _train(tmp_path / "run")
    path = tmp_path / "run" / "config.json"
    doc = json.loads(path.read_text())
    doc["model"].update(latent_dim=10_000_000, hidden_dims=[1_000_000_000])  # TBs if built for real
    path.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="do not match the model built from its config"):
        vaekit.load(tmp_path / "run")


def test_flipped_bytes_and_non_finite_weights_are_refused(tmp_path):
    _train(tmp_path / "run")
    w = tmp_path / "run" / "model.safetensors"
    good = w.read_bytes()
    flipped = bytearray(good)
    flipped[-3] ^= 0xFF  # a weight's byte, not the header: safetensors alone would accept it
    w.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        vaekit.load(tmp_path / "run")
    # NaN weights with a matching digest (a run that diverged and was saved) are refused too
    model = _model()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    vaekit.save(model, tmp_path / "nan")
    with pytest.raises(CheckpointError, match="non-finite values"):
        vaekit.load(tmp_path / "nan")


@pytest.mark.parametrize("damage, message", [
    ("rng", "damaged or does not match"),
    ("state_types", "damaged or does not match"),
    ("state_json", "corrupt"),
])
def test_damaged_checkpoint_is_a_checkpoint_error(tmp_path, damage, message):
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    _train(run)
    ckpt = run / "checkpoint"
    state = json.loads((ckpt / "state.json").read_text())
    if damage == "rng":
        tensors = load_file(ckpt / "optimizer.safetensors")
        tensors["rng_state"] = torch.zeros(3, dtype=torch.uint8)
        save_file(tensors, ckpt / "optimizer.safetensors")
        state["files"].pop("optimizer.safetensors")  # damage that the digest does not catch
    elif damage == "state_types":
        state["epoch"] = {"not": "an int"}
    if damage == "state_json":
        (ckpt / "state.json").write_text("{not json")
    else:
        (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=message):
        vaekit.fit(_model(), _data(), out=run, resume=True, epochs=3, batch_size=8, progress=False)


def test_overwrite_never_deletes_a_folder_that_is_not_a_run(tmp_path):
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(CheckpointError, match="holds no vaekit run"):
        _train(precious, overwrite=True)
    assert (precious / "thesis.tex").read_text() == "years of work"



def test_a_killed_semi_supervised_run_resumes_with_its_labels(tmp_path):
    from vaekit.tasks.runs import train_run

    class Kill(vaekit.Callback):
        def on_epoch_end(self, state, row):
            raise KeyboardInterrupt

    opts = dict(model_options={"conditioning": "semi_supervised", "latent_dim": 2, "hidden_dims": (8,)},
                train_options={"epochs": 2}, label_fraction=0.1)
    # M1+M2 (the default on grey images) killed while its M1 trains: nothing is written into the run yet
    with pytest.raises(KeyboardInterrupt):
        train_run("digits", tmp_path / "auto", callbacks=[Kill()], **opts)
    assert not (tmp_path / "auto").exists() or not any((tmp_path / "auto").iterdir())
    opts["m1"] = "none"  # M2 on the pixels: killed in its first epoch, then resumed
    with pytest.raises(KeyboardInterrupt):
        train_run("digits", tmp_path / "run", callbacks=[Kill()], **opts)
    assert (tmp_path / "run" / "labels.json").is_file()  # written when training began
    run, data = train_run("digits", tmp_path / "run", resume=True, train_options={"epochs": 2})
    assert data.n_labelled < len(data) // 5  # the hidden labels stay hidden (not all labels)


def test_an_old_aside_folder_is_never_deleted_by_a_new_overwrite(tmp_path):
    run = tmp_path / "run"
    _train(run)
    (tmp_path / f".run.replaced-{os.getpid()}").mkdir()  # left by a killed overwrite: maybe the only copy of a run
    (tmp_path / f".run.replaced-{os.getpid()}" / "keep").write_text("x")
    _train(run, seed=3, overwrite=True)
    assert (tmp_path / f".run.replaced-{os.getpid()}" / "keep").read_text() == "x"


def test_resuming_a_run_that_had_stopped_trains_no_further(tmp_path):
    run = tmp_path / "run"
    first = _train(run, max_time=1e-6)  # the budget runs out in the first epoch
    assert len(first) == 1 and first.stop_reason == "max_time"
    before = (run / "model.safetensors").read_bytes()
    again = _train(run, resume=True, max_time=1e-6)
    assert len(again) == 1 and again.stop_reason == "max_time"
    assert (run / "model.safetensors").read_bytes() == before
    # a larger budget continues
    assert len(_train(run, resume=True, max_time=3600.0)) == 2
