"""The core hook layer: registries, duplicate names, broken plugins, unknown names, ``progan plugins --json``."""
from __future__ import annotations

import json

import pytest

from core_helpers import write_plugin
from progan import cli
from progan.errors import PluginError
from progan.plugins import PluginHost, host

LOSS_PLUGIN = """
from progan.losses import Logistic, LogisticOptions

@hookimpl
def progan_register_losses(register):
    register({name!r}, lambda options: Logistic(LogisticOptions(**options)))
"""


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtins_register_the_papers_architecture_and_losses():
    plugin_host = PluginHost(entry_points=False)
    assert "progan" in plugin_host.registries["architectures"]
    assert {"wgan-gp", "logistic"} <= set(plugin_host.registries["losses"])
    registration = plugin_host.get("losses", "wgan-gp")
    assert registration.package == "progan" and registration.plugin.startswith("progan.builtin")


def test_a_local_plugin_module_adds_its_names(plugin_dir):
    name = write_plugin(plugin_dir, LOSS_PLUGIN.format(name="my-loss"))
    plugin_host = PluginHost(entry_points=False, modules=[name])
    registration = plugin_host.get("losses", "my-loss")
    assert registration.plugin == name
    assert plugin_host.create("losses", "my-loss", {"r1_gamma": 2.0}).opts.r1_gamma == 2.0
    assert plugin_host.info[name].names == {"losses": ["my-loss"]}


def test_a_name_registered_twice_is_refused_naming_both_plugins(plugin_dir):
    first = write_plugin(plugin_dir, LOSS_PLUGIN.format(name="shared-loss"), prefix="first")
    second = write_plugin(plugin_dir, LOSS_PLUGIN.format(name="shared-loss"), prefix="second")
    with pytest.raises(PluginError) as info:
        PluginHost(entry_points=False, modules=[first, second])
    message = str(info.value)
    assert "loss name 'shared-loss' is registered twice" in message
    assert repr(first) in message and repr(second) in message


def test_a_plugin_cannot_take_over_a_builtin_name(plugin_dir):
    name = write_plugin(plugin_dir, LOSS_PLUGIN.format(name="wgan-gp"))
    with pytest.raises(PluginError, match=rf"'wgan-gp' is registered twice: by plugin 'progan.builtin.losses'.*{name}"):
        PluginHost(entry_points=False, modules=[name])


def test_a_plugin_whose_register_hook_raises_is_named_in_a_warning_and_the_rest_still_load(plugin_dir):
    broken = write_plugin(plugin_dir, """
        from progan.losses import WganGp, WganGpOptions

        @hookimpl
        def progan_register_architectures(register):
            raise RuntimeError("no GPU kernels for this architecture")

        @hookimpl
        def progan_register_losses(register):
            register("still-here", lambda options: WganGp(WganGpOptions()))
        """, prefix="broken")
    fine = write_plugin(plugin_dir, LOSS_PLUGIN.format(name="fine-loss"), prefix="fine")
    with pytest.warns(UserWarning, match=rf"{broken}.*no GPU kernels"):
        plugin_host = PluginHost(entry_points=False, modules=[broken, fine])
    assert {"still-here", "fine-loss", "wgan-gp"} <= set(plugin_host.registries["losses"])
    assert "progan" in plugin_host.registries["architectures"]
    assert "no GPU kernels" in plugin_host.info[broken].error and plugin_host.info[fine].error is None


def test_a_plugin_module_that_fails_to_import_is_named(plugin_dir):
    (plugin_dir / "typo_plugin.py").write_text("import this_module_does_not_exist\n")
    with pytest.raises(PluginError, match=r"plugin module 'typo_plugin' failed to import: ModuleNotFoundError"):
        PluginHost(entry_points=False, modules=["typo_plugin"])


@pytest.mark.parametrize("kind, word, name, closest, available", [
    ("losses", "loss", "wgan", "wgan-gp", "logistic, wgan-gp"),
    ("architectures", "architecture", "pro-gan", "progan", "progan"),
    ("datasets", "dataset", "shape", "shapes", "files, shapes"),
])
def test_unknown_names_list_the_available_ones_and_the_closest(kind, word, name, closest, available):
    with pytest.raises(PluginError) as info:
        PluginHost(entry_points=False).get(kind, name)
    message = str(info.value)
    assert f"unknown {word} {name!r} (did you mean {closest!r}?)" in message
    assert f"available: {available}" in message


def test_unknown_name_with_nothing_close_still_lists_what_exists():
    with pytest.raises(PluginError, match=r"unknown loss 'zzzzzz'; available: logistic, wgan-gp"):
        PluginHost(entry_points=False).get("losses", "zzzzzz")


def test_the_process_host_skips_installed_plugins_when_disabled_and_adds_modules_later(plugin_dir, monkeypatch):
    monkeypatch.setenv("PROGAN_DISABLE_PLUGINS", "1")
    first = host()
    assert host() is first  # one host per process
    assert all(info.package == "progan" for info in first.info.values())
    name = write_plugin(plugin_dir, LOSS_PLUGIN.format(name="late-loss"))
    assert host([name]) is first and "late-loss" in first.registries["losses"]


def test_plugins_json_lists_every_plugin_with_package_and_names(plugin_dir, capsys):
    name = write_plugin(plugin_dir, LOSS_PLUGIN.format(name="json-loss"))
    assert cli.main(["--plugin", name, "plugins", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert listed["progan.builtin.architectures"]["names"] == {"architectures": ["progan"]}
    assert listed["progan.builtin.losses"]["package"] == "progan"
    assert set(listed["progan.builtin.losses"]["names"]["losses"]) == {"wgan-gp", "logistic"}
    assert listed[name]["names"] == {"losses": ["json-loss"]} and listed[name]["error"] is None
    assert {"name", "package", "version", "names", "error"} <= set(listed[name])


def test_plugins_plain_listing_names_the_plugins(capsys):
    cli.main(["plugins"])
    out = capsys.readouterr().out
    assert "progan.builtin.losses" in out and "wgan-gp" in out and "progan" in out
