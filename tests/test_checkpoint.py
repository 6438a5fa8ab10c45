"""Checkpoints: a full round trip, atomic writes, pruning, and bitwise-exact resume at any point of the schedule."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from core_helpers import assert_same_training_state, make_trainer, run_until, tiny_config
from progan import checkpoint
from progan.errors import CheckpointError
from progan.trainer import latest_checkpoint


def test_round_trip_restores_every_tensor_optimizer_state_counter_and_rng(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path / "a", kimg=0.024)
    for _ in range(5):  # into the fade-in, so that Adam has state for the 8×8 layers too
        trainer.step()
    path = trainer.save()
    # what the global RNGs give right after the save is what they must give again after a load
    expected = (torch.rand(3), np.random.rand(3), random.random())

    other = make_trainer(tiny_images, tmp_path / "b", config=tiny_config(kimg=0.024, seed=1))  # different init
    assert not torch.equal(other.G.blocks[0].dense.weight, trainer.G.blocks[0].dense.weight)
    assert not torch.equal(other.rng.get_state(), trainer.rng.get_state())
    torch.rand(5), np.random.rand(5), random.random()  # move the global RNGs on
    other.load(path)
    assert other.images_shown == trainer.images_shown == 40 and other.phase_index == trainer.phase_index == 1
    assert_same_training_state(trainer, other)  # G, D, G_ema, Adam states and lrs, the trainer's RNG
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]) and got[2] == expected[2]


def test_checkpoint_file_is_safetensors_with_the_documented_metadata(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path)
    trainer.step()
    tensors, metadata = checkpoint.read(trainer.save())
    assert metadata["format"] == "progan-checkpoint"
    assert {"config", "model", "state"} <= metadata.keys()
    assert any(k.startswith("G.") for k in tensors) and any(k.startswith("G_ema.") for k in tensors)
    assert any(k.startswith("opt.D.") for k in tensors) and "rng.trainer" in tensors


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "file.bin"
    checkpoint.write_atomic(target, b"old contents")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises((OSError, CheckpointError), match="No space left"):
        checkpoint.write_atomic(target, b"new contents that never land")
    monkeypatch.undo()
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]  # the temporary file was removed


def test_saves_leave_no_temporary_files(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path)
    trainer.step()
    trainer.save()
    trainer.save(tmp_path / "elsewhere" / "copy.safetensors")
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert (tmp_path / "elsewhere" / "copy.safetensors").is_file()


def test_keep_checkpoints_prunes_the_oldest(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, keep_checkpoints=2)
    names = []
    for _ in range(4):
        trainer.step()
        names.append(trainer.save().name)
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*")) == names[-2:]
    assert latest_checkpoint(tmp_path).name == names[-1]


def test_loading_into_a_different_model_is_refused(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path / "a")
    path = trainer.save()
    other = make_trainer(tiny_images, tmp_path / "b", config=tiny_config(resolution=8))
    with pytest.raises(CheckpointError, match="16px"):
        other.load(path)


def test_a_truncated_checkpoint_is_refused_with_a_clear_error(tiny_images, tmp_path):
    path = make_trainer(tiny_images, tmp_path).save()
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        make_trainer(tiny_images, tmp_path).load(path)
    with pytest.raises(CheckpointError, match="no checkpoints"):
        latest_checkpoint(tmp_path / "empty")


# -- bitwise-exact resume ---------------------------------------------------------------------------------------
# 8×8 run: stabilise 4 [0, 40), fade 4->8 [40, 80), stabilise 8 [80, 120); batch 8 (5 steps a phase), a tick
# every 16 images, mirror on (the flips draw from the trainer's RNG) and WGAN-GP (its u too).


def resume_config():
    return tiny_config(resolution=8, kimg=0.04, tick_kimg=0.016, checkpoint_kimg=0.1, data={"mirror": True})


@pytest.fixture(scope="module")
def resume_data():
    return np.random.default_rng(1).integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def uninterrupted(resume_data, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = make_trainer(resume_data, tmp_path_factory.mktemp("full"), config=resume_config())
        assert trainer.run().reason == "finished"
    finally:
        torch.set_num_threads(threads)
    return trainer


@pytest.mark.parametrize("stop_at", [
    24,  # mid-stage (stabilise 4), between ticks
    32,  # exactly at a tick
    40,  # at a stage end: the resumed run starts the fade with fresh optimisers
    56,  # mid-fade (alpha 0.4)
    104,  # mid final stage
])
def test_a_stopped_and_resumed_run_is_bitwise_identical_to_an_uninterrupted_one(stop_at, uninterrupted, resume_data, tmp_path):
    first = make_trainer(resume_data, tmp_path, config=resume_config())
    result = run_until(first, stop_at)
    assert result.reason == "interrupted" and first.images_shown == stop_at
    # a new process: a second trainer built from the same config, then loaded from the run's latest checkpoint
    second = make_trainer(resume_data, tmp_path, config=resume_config())
    second.load(latest_checkpoint(tmp_path))
    assert second.images_shown == stop_at
    assert second.run().reason == "finished"
    assert_same_training_state(second, uninterrupted)
    for a, b in zip(second.G_ema.parameters(), uninterrupted.G_ema.parameters()):
        assert torch.equal(a, b)


def test_stepping_by_hand_then_saving_resumes_identically_too(uninterrupted, resume_data, tmp_path):
    # No run loop at all before the save: grids, ticks and checkpoints must not perturb the trajectory.
    first = make_trainer(resume_data, tmp_path, config=resume_config())
    while first.images_shown < 64:
        first.step()
    path = first.save(tmp_path / "by-hand.safetensors")
    second = make_trainer(resume_data, tmp_path / "second", config=resume_config())
    second.load(path)
    second.run()
    assert_same_training_state(second, uninterrupted)


def test_a_different_seed_gives_a_different_run(uninterrupted, resume_data, tmp_path):
    # guards the bitwise tests against comparing things that never change
    other = make_trainer(resume_data, tmp_path, config=tiny_config(resolution=8, kimg=0.04, tick_kimg=0.016, checkpoint_kimg=0.1, seed=5, data={"mirror": True}))
    other.run()
    assert not torch.equal(other.G.to_rgb[1].weight, uninterrupted.G.to_rgb[1].weight)


def test_a_checkpoint_from_before_the_ema_cap_resumes_with_its_constant_beta(tiny_images, tmp_path):
    import json

    from progan.trainer import config_of

    trainer = make_trainer(tiny_images, tmp_path / "run", kimg=0.024)
    trainer.step()
    path = trainer.save()
    tensors, metadata = checkpoint.read(path)
    stored = json.loads(metadata["config"])
    assert stored["optim"]["ema_phase_fraction"] == 0.05  # what this version writes, and keeps on resume
    assert config_of(path).optim.ema_phase_fraction == 0.05
    del stored["optim"]["ema_phase_fraction"]  # as an older progan wrote it
    old = tmp_path / "old.safetensors"
    checkpoint.save(old, tensors, {**metadata, "config": json.dumps(stored, sort_keys=True)})
    assert config_of(old).optim.ema_phase_fraction == 0.0


def test_a_checkpoint_from_before_the_default_change_resumes_with_its_stddev_group_and_penalty_norm(tiny_images, tmp_path):
    import json

    from progan.trainer import config_of

    trainer = make_trainer(tiny_images, tmp_path / "run", kimg=0.024)  # no group or norm given: the defaults
    trainer.step()
    path = trainer.save()
    tensors, metadata = checkpoint.read(path)
    stored = json.loads(metadata["config"])
    # this version saves the options the plugins resolved, so a later default change cannot reach a resumed run
    assert (stored["arch"]["options"]["mbstd_group_size"], stored["loss"]["options"]["gp_norm"]) == (16, "native")
    resumed = config_of(path)
    assert (resumed.arch.options["mbstd_group_size"], resumed.loss.options["gp_norm"]) == (16, "native")
    # an older progan saved only what was set, and trained with groups of 4 and the full-resolution norm
    stored["arch"]["options"] = {k: v for k, v in stored["arch"]["options"].items() if k != "mbstd_group_size"}
    stored["loss"]["options"] = {}
    old = tmp_path / "old.safetensors"
    spec = json.loads(metadata["model"])
    spec["arch_options"]["mbstd_group_size"] = 4
    checkpoint.save(old, tensors, {**metadata, "config": json.dumps(stored, sort_keys=True), "model": json.dumps(spec, sort_keys=True)})
    config = config_of(old)
    assert (config.arch.options["mbstd_group_size"], config.loss.options["gp_norm"]) == (4, "full-resolution")
    again = make_trainer(tiny_images, tmp_path / "again", config=config)
    again.load(old)  # the rebuilt D matches the checkpoint's (a group of 16 would be refused)
    assert (again.D.head.mbstd.group_size, again.loss.opts.gp_norm) == (4, "full-resolution")
