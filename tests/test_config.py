"""Configuration errors name the key, the problem and the fix; valid configs round-trip through JSON."""
from __future__ import annotations

import json

import pytest
import torch

from core_helpers import make_trainer, tiny_config
from progan.config import TrainConfig, dotted, from_dict, merge, preset, read_toml, to_dict
from progan.errors import ConfigError, PluginError


@pytest.mark.parametrize("data, message", [
    ({"resolutoin": 32}, "unknown config key 'resolutoin'; did you mean 'resolution'?"),
    ({"schedule": {"fade_kimgg": 3}}, "unknown config key 'schedule.fade_kimgg'; did you mean 'schedule.fade_kimg'?"),
    ({"optim": {"beta": [0, 0.99]}}, "did you mean 'optim.betas'?"),
    ({"data": {"mirorr": True}}, "did you mean 'data.mirror'?"),
])
def test_unknown_key_is_named_with_the_closest_suggestion(data, message):
    with pytest.raises(ConfigError) as info:
        from_dict(data)
    assert message in str(info.value)


def test_unknown_key_without_a_close_match_lists_the_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key 'zzz'; valid keys: .*resolution.*schedule"):
        from_dict({"zzz": 1})


def test_unknown_architecture_option_is_named_with_the_closest_suggestion(tiny_images, tmp_path):
    config = tiny_config(arch={"fmap_bse": 64})
    with pytest.raises(ConfigError, match=r"'arch.fmap_bse'; did you mean 'arch.fmap_base'"):
        make_trainer(tiny_images, tmp_path, config=config)


@pytest.mark.parametrize("data, message", [
    ({"resolution": "32"}, "'resolution' must be an integer, got str '32'"),
    ({"resolution": 32.0}, "'resolution' must be an integer"),
    ({"seed": True}, "'seed' must be an integer"),  # a bool is not an integer here
    ({"schedule": {"batch_size": 8.5}}, "'schedule.batch_size' must be an integer"),
    ({"schedule": {"fade_kimg": "ten"}}, "'schedule.fade_kimg' must be a number"),
    ({"data": {"mirror": "yes"}}, "'data.mirror' must be true or false"),
    ({"optim": {"betas": 0.5}}, "'optim.betas' must be a list"),
    ({"optim": {"name": "sgd"}}, "'optim.name' must be one of 'adam', 'rmsprop'"),
    ({"schedule": {"batch_by_resolution": {"big": 4}}}, "'schedule.batch_by_resolution' keys must be integers"),
    ({"schedule": 5}, "'schedule' must be a table"),
    ({"arch": 5}, "'arch' must be a table"),
])
def test_wrong_types_are_refused_naming_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        from_dict(data)
    assert message in str(info.value)


@pytest.mark.parametrize("resolution", [0, 2, 3, 12, 48, 1000, 2048, -4])
def test_resolution_must_be_a_power_of_two_from_4_to_1024(resolution):
    with pytest.raises(ConfigError, match=r"'resolution' must be a power of two from 4 to 1024 \(4, 8, 16, .*1024\), got"):
        from_dict({"resolution": resolution})


@pytest.mark.parametrize("resolution", [4, 8, 256, 1024])
def test_every_power_of_two_in_range_is_accepted(resolution):
    assert from_dict({"resolution": resolution}).resolution == resolution


@pytest.mark.parametrize("data, key", [
    ({"schedule": {"stabilise_kimg": 0}}, "schedule.stabilise_kimg"),
    ({"schedule": {"fade_kimg": -1}}, "schedule.fade_kimg"),
    ({"schedule": {"total_kimg": 0}}, "schedule.total_kimg"),
    ({"tick_kimg": 0}, "tick_kimg"),
    ({"checkpoint_kimg": -2.5}, "checkpoint_kimg"),
])
def test_zero_or_negative_kimg_is_refused(data, key):
    with pytest.raises(ConfigError, match=rf"'{key}' must be positive"):
        from_dict(data)


def test_zero_batch_and_start_resolution_are_refused():
    with pytest.raises(ConfigError, match="'schedule.batch_size' must be at least 1"):
        from_dict({"schedule": {"batch_size": 0}})
    with pytest.raises(ConfigError, match="schedule.start_resolution"):
        from_dict({"schedule": {"start_resolution": 6}})


def test_a_batch_below_the_group_takes_the_stddev_over_the_whole_batch(tiny_images, tmp_path):
    # the paper's group is the whole minibatch (16, then 14/6/3 at 256-1024): a smaller base or
    # per-resolution batch is one group, not an error
    trainer = make_trainer(tiny_images, tmp_path, batch=2, arch={"mbstd_group_size": 16}, schedule={"batch_by_resolution": {8: 3}})
    assert [p.batch_size for p in trainer.schedule.phases if p.resolution == 8] == [3, 3]
    mbstd = trainer.D.head.mbstd
    x = torch.randn(3, 4, 4, 4)
    stddev = x.var(dim=0, unbiased=False).add(1e-8).sqrt().mean()  # one group of all 3 samples
    assert torch.allclose(mbstd(x)[:, -1], stddev.expand(3, 4, 4))
    trainer.step()  # and batch 2 trains


@pytest.mark.parametrize("kind, name, closest, available", [
    ("arch", "proggan", "progan", "progan"),
    ("loss", "wgan_gp", "wgan-gp", "logistic, wgan-gp"),
    ("loss", "logistc", "logistic", "logistic, wgan-gp"),
])
def test_unknown_architecture_or_loss_lists_the_available_names_and_the_closest(kind, name, closest, available, tiny_images, tmp_path):
    config = tiny_config(**{kind: {"name": name}})
    with pytest.raises(PluginError) as info:
        make_trainer(tiny_images, tmp_path, config=config)
    message = str(info.value)
    assert f"{name!r}" in message and f"did you mean {closest!r}" in message
    assert f"available: {available}" in message


def test_a_config_round_trips_through_json():
    config = tiny_config(schedule={"batch_by_resolution": {8: 4, 16: 2}, "g_lr_by_resolution": {16: 5e-4}}, loss={"name": "logistic", "r1_gamma": 5.0}, data={"mirror": True})
    again = from_dict(json.loads(json.dumps(to_dict(config))))
    assert again == config
    assert again.schedule.batch_by_resolution == {8: 4, 16: 2}  # integer keys come back from JSON strings
    assert again.loss.name == "logistic" and again.loss.options == {"r1_gamma": 5.0}


def test_arch_and_loss_tables_take_a_name_and_options():
    config = from_dict({"arch": {"name": "progan", "fmap_max": 64}, "loss": "logistic"})
    assert config.arch.name == "progan" and config.arch.options == {"fmap_max": 64}
    assert config.loss.name == "logistic" and config.loss.options == {}
    assert from_dict({}).arch.name == "progan" and from_dict({}).loss.name == "wgan-gp"  # the paper's defaults


def test_merge_drops_the_options_of_a_replaced_architecture():
    base = {"arch": {"name": "progan", "fmap_max": 64}, "schedule": {"batch_size": 8, "fade_kimg": 2}}
    merged = merge(base, {"arch": {"name": "other"}, "schedule": {"batch_size": 4}})
    assert merged == {"arch": {"name": "other"}, "schedule": {"batch_size": 4, "fade_kimg": 2}}
    assert merge(base, {"arch": {"fmap_max": 32}})["arch"] == {"name": "progan", "fmap_max": 32}


def test_dotted_overrides_parse_values_and_refuse_a_missing_equals():
    assert dotted(["schedule.fade_kimg=10", "data.mirror=true", "arch.name=progan", "optim.betas=[0, 0.9]"]) == {
        "schedule": {"fade_kimg": 10}, "data": {"mirror": True}, "arch": {"name": "progan"}, "optim": {"betas": [0, 0.9]},
    }
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        dotted(["schedule.fade_kimg"])


def test_toml_files_and_presets(tmp_path):
    good = tmp_path / "run.toml"
    good.write_text('resolution = 16\n[schedule]\nbatch_by_resolution = { 16 = 4 }\n')
    assert from_dict(read_toml(good)).schedule.batch_by_resolution == {16: 4}
    bad = tmp_path / "bad.toml"
    bad.write_text("resolution = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_toml(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        read_toml(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"unknown preset 'papr'; available: .*paper"):
        preset("papr")


def test_paper_preset_holds_the_papers_numbers():
    config = from_dict(preset("paper"))
    assert config.resolution == 1024
    assert (config.schedule.stabilise_kimg, config.schedule.fade_kimg, config.schedule.batch_size) == (800, 800, 16)
    assert config.schedule.batch_by_resolution == {256: 14, 512: 6, 1024: 3}
    assert (config.schedule.g_lr, config.schedule.d_lr, config.optim.betas, config.optim.eps, config.optim.ema_beta) == (0.001, 0.001, (0.0, 0.99), 1e-8, 0.999)
    assert config.loss.name == "wgan-gp" and config.loss.options["gp_lambda"] == 10.0 and config.loss.options["drift"] == 0.001
    assert TrainConfig().optim.reset_each_phase
