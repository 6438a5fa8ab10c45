"""Meta-tests of the hook layer: every hook documented and called at its moment, and names checked."""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from progan.builtin.architectures import progan as progan_architecture
from progan.builtin.datasets import shapes
from progan.builtin.losses import wgan_gp
from progan.config import from_dict
from progan.errors import ConfigError, PluginError
from progan.hookspecs import hookimpl
from progan.plugins import HOOKS, KINDS, LIFECYCLE_HOOKS, PluginHost
from progan.trainer import Trainer, latest_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TINY_PROGAN = {"latent_size": 16, "fmap_base": 32, "fmap_max": 16}
# 4×4 stable, fade to 8×8, 8×8 stable: 16 images (4 steps of 4) each; a tick every 2 steps, a checkpoint every 6
RUN = {
    "resolution": 8, "data": {"source": "recorded-shapes:32"}, "arch": {"name": "recorded-arch"}, "loss": {"name": "recorded-loss"},
    "callbacks": ["recorder"], "schedule": {"stabilise_kimg": 0.016, "fade_kimg": 0.016, "batch_size": 4},
    "tick_kimg": 0.008, "checkpoint_kimg": 0.024, "grid_size": 4,
}


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- documentation ---------------------------------------------------------------------------------
def test_every_hook_is_documented_with_its_exact_signature() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text()
    plugin_docs = load_tool("plugin_docs")
    assert {f.__name__ for f in plugin_docs.hooks()} == set(HOOKS)
    for function in plugin_docs.hooks():
        assert f"@hookimpl\n{plugin_docs.signature(function)}\n" in guide
    assert plugin_docs.signature(HOOKS["progan_tick"]) == "def progan_tick(trainer: Trainer, stats: Mapping[str, float]) -> None"


def test_the_generated_parts_of_the_guide_are_up_to_date() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert load_tool("plugin_docs").update(guide) == guide, "run: python tools/plugin_docs.py --write"


# -- a plugin that records every hook --------------------------------------------------------------
class Recorder:
    """Records each lifecycle hook as (hook, images shown, details); ``stop_at`` requests a stop at one of them."""

    def __init__(self, stop_at: tuple[str, int] | None = None) -> None:
        self.calls: list[tuple] = []
        self.stop_at = stop_at

    def record(self, trainer, hook: str, *details) -> None:
        self.calls.append((hook, trainer.images_shown, *details))
        if (hook, trainer.images_shown) == self.stop_at:
            trainer.request_stop(2)

    @hookimpl
    def progan_train_start(self, trainer) -> None:
        self.record(trainer, "train_start")

    @hookimpl
    def progan_stage_start(self, trainer, resolution: int, fading: bool) -> None:
        self.record(trainer, "stage_start", resolution, fading)

    @hookimpl
    def progan_stage_end(self, trainer, resolution: int, fading: bool) -> None:
        self.record(trainer, "stage_end", resolution, fading)

    @hookimpl
    def progan_tick(self, trainer, stats) -> None:
        assert stats["images_shown"] == trainer.images_shown
        self.record(trainer, "tick")

    @hookimpl
    def progan_checkpoint(self, trainer, path: str) -> None:
        assert Path(path).is_file()
        self.record(trainer, "checkpoint")

    @hookimpl
    def progan_train_end(self, trainer) -> None:
        self.record(trainer, "train_end")


def recorder_module(name: str, callback: Recorder) -> types.ModuleType:
    """A plugin module that implements every hook: it registers one name of each kind and records lifecycle calls itself."""
    module = types.ModuleType(name)
    module.recorder, module.registered = Recorder(), []
    factories = {
        "architectures": ("recorded-arch", lambda options: progan_architecture({**TINY_PROGAN, **options})),
        "losses": ("recorded-loss", wgan_gp),
        "datasets": ("recorded-shapes", shapes),
        "metrics": ("recorded-metric", lambda options: None),
        "callbacks": ("recorder", lambda options: callback),
    }

    def registration(kind: str):
        @hookimpl
        def hook(register) -> None:
            module.registered.append(f"progan_register_{kind}")
            register(*factories[kind])

        return hook

    for kind in KINDS:
        setattr(module, f"progan_register_{kind}", registration(kind))
    for hook in LIFECYCLE_HOOKS:
        setattr(module, hook, getattr(module.recorder, hook))
    return module


@pytest.fixture
def recording(monkeypatch):
    """(host, module recorder, callback recorder) with the recording plugin loaded as a local module."""
    callback = Recorder()
    module = recorder_module("progan_recorder", callback)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    host = PluginHost(entry_points=False, modules=[module.__name__])
    return host, module, callback


EXPECTED = [
    ("train_start", 0), ("stage_start", 0, 4, False), ("tick", 8), ("tick", 16), ("checkpoint", 16), ("stage_end", 16, 4, False),
    ("stage_start", 16, 8, True), ("tick", 24), ("checkpoint", 24), ("tick", 32), ("checkpoint", 32), ("stage_end", 32, 8, True),
    ("stage_start", 32, 8, False), ("tick", 40), ("tick", 48), ("checkpoint", 48), ("stage_end", 48, 8, False), ("train_end", 48),
]


def test_every_hook_is_called_during_registration_and_a_run(recording, tmp_path) -> None:
    host, module, callback = recording
    assert module.registered == [f"progan_register_{kind}" for kind in KINDS]
    assert host.info["progan_recorder"].hooks == sorted(LIFECYCLE_HOOKS)
    Trainer(from_dict(RUN), run_dir=tmp_path, host=host).run()
    seen = set(module.registered) | {f"progan_{call[0]}" for call in module.recorder.calls}
    assert seen == set(HOOKS)


def test_lifecycle_hooks_come_at_their_moments_for_modules_and_callbacks(recording, tmp_path) -> None:
    host, module, callback = recording
    trainer = Trainer(from_dict(RUN), run_dir=tmp_path, host=host)
    assert trainer.run().reason == "finished"
    assert module.recorder.calls == EXPECTED
    assert callback.calls == EXPECTED
    assert not host.manager.is_registered(callback)  # a callback is active only during its run


def test_a_callback_is_active_only_in_runs_that_name_it(recording, tmp_path) -> None:
    host, module, callback = recording
    Trainer(from_dict({**RUN, "callbacks": []}), run_dir=tmp_path, host=host).run()
    assert callback.calls == [] and module.recorder.calls == EXPECTED


def resume(host, run_dir: Path) -> Trainer:
    trainer = Trainer(from_dict(RUN), run_dir=run_dir, host=host)
    trainer.load(latest_checkpoint(run_dir))
    trainer.run()
    return trainer


def test_a_run_resumed_mid_phase_gets_train_start_but_no_stage_start(recording, tmp_path) -> None:
    host, module, callback = recording
    callback.stop_at = ("tick", 24)
    assert Trainer(from_dict(RUN), run_dir=tmp_path, host=host).run().reason == "interrupted"
    assert callback.calls[-4:] == [("tick", 24), ("checkpoint", 24), ("checkpoint", 24), ("train_end", 24)]
    callback.calls.clear()
    resume(host, tmp_path)
    assert callback.calls == [("train_start", 24), *EXPECTED[EXPECTED.index(("tick", 32)):]]


def test_a_run_resumed_at_a_phase_boundary_starts_that_phase(recording, tmp_path) -> None:
    host, module, callback = recording
    callback.stop_at = ("stage_end", 16)
    Trainer(from_dict(RUN), run_dir=tmp_path, host=host).run()
    assert callback.calls[-4:] == [("stage_end", 16, 4, False), ("stage_start", 16, 8, True), ("checkpoint", 16), ("train_end", 16)]
    callback.calls.clear()
    resume(host, tmp_path)
    assert callback.calls == [("train_start", 16), *EXPECTED[EXPECTED.index(("stage_start", 16, 8, True)):]]


def test_train_end_is_called_when_a_hook_raises(recording, tmp_path) -> None:
    host, module, callback = recording

    class Failing:
        @hookimpl
        def progan_tick(self, trainer, stats) -> None:
            raise RuntimeError("callback failed")

    trainer = Trainer(from_dict(RUN), run_dir=tmp_path, host=host)
    trainer.callbacks.append(Failing())
    with pytest.raises(RuntimeError, match="callback failed"):
        trainer.run()
    assert callback.calls[-1] == ("train_end", 8) and not host.manager.is_registered(callback)


# -- names -----------------------------------------------------------------------------------------
def plugin(monkeypatch, name: str, **hooks) -> str:
    """A local plugin module ``name`` with the given hook functions (marked here)."""
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, hookimpl(function))
    monkeypatch.setitem(sys.modules, name, module)
    return name


def registers(*names: str):
    return lambda register: [register(name, lambda options: None) for name in names]


def test_a_name_registered_twice_is_refused_naming_both_plugins(monkeypatch) -> None:
    first = plugin(monkeypatch, "first_plugin", progan_register_losses=registers("twice"))
    second = plugin(monkeypatch, "second_plugin", progan_register_losses=registers("twice"))
    with pytest.raises(PluginError, match="loss name 'twice' is registered twice: by plugin 'first_plugin'.*by plugin 'second_plugin'"):
        PluginHost(entry_points=False, modules=[first, second])
    clash = plugin(monkeypatch, "clash_plugin", progan_register_architectures=registers("progan"))
    with pytest.raises(PluginError, match=r"'progan.builtin.architectures' \(package progan\)"):
        PluginHost(entry_points=False, modules=[clash])


@pytest.mark.parametrize("name", ["", "has space", "slash/name", 3])
def test_an_invalid_name_is_refused(monkeypatch, name) -> None:
    module = plugin(monkeypatch, "invalid_plugin", progan_register_metrics=registers(name))
    with pytest.raises(PluginError, match="invalid metric name"):
        PluginHost(entry_points=False, modules=[module])


def test_a_non_callable_factory_is_refused(monkeypatch) -> None:
    module = plugin(monkeypatch, "noncallable_plugin", progan_register_losses=lambda register: register("loss-x", "not a factory"))
    with pytest.raises(PluginError, match="non-callable factory"):
        PluginHost(entry_points=False, modules=[module])


def test_a_missing_name_lists_the_available_ones_and_the_closest() -> None:
    host = PluginHost(entry_points=False)
    with pytest.raises(PluginError, match=r"unknown loss 'wgan_gp' \(did you mean 'wgan-gp'\?\); available: logistic, wgan-gp"):
        host.get("losses", "wgan_gp")
    with pytest.raises(PluginError, match="unknown callback 'anything'; available: none"):
        host.get("callbacks", "anything")


def test_a_missing_name_in_a_config_fails_before_training(tmp_path) -> None:
    with pytest.raises(PluginError, match=r"unknown architecture 'progam' \(did you mean 'progan'\?\)"):
        Trainer(from_dict({**RUN, "data": {"source": "shapes:8"}, "arch": {"name": "progam"}, "callbacks": []}), run_dir=tmp_path, host=PluginHost(entry_points=False))


# -- hook implementations progan would otherwise ignore ----------------------------------------------
def test_a_misspelt_hook_is_refused_with_the_closest_name(monkeypatch) -> None:
    module = plugin(monkeypatch, "misspelt_plugin", progan_tik=lambda trainer: None)
    with pytest.raises(PluginError, match=r"'progan_tik', which is not a hook.*did you mean 'progan_tick'"):
        PluginHost(entry_points=False, modules=[module])


def test_a_hook_without_hookimpl_is_refused(monkeypatch) -> None:
    module = plugin(monkeypatch, "unmarked_plugin")
    module_object = sys.modules[module]
    module_object.progan_register_losses = registers("unmarked")
    with pytest.raises(PluginError, match="progan_register_losses lacks the @progan.hookspecs.hookimpl decorator"):
        PluginHost(entry_points=False, modules=[module])


def test_an_argument_the_hook_does_not_pass_is_refused(monkeypatch) -> None:
    module = plugin(monkeypatch, "argument_plugin", progan_tick=lambda trainer, stat: None)
    with pytest.raises(PluginError, match="progan_tick takes stat, which the hook does not pass; its arguments: trainer, stats"):
        PluginHost(entry_points=False, modules=[module])


def test_a_callback_must_implement_lifecycle_hooks_only(monkeypatch, tmp_path) -> None:
    class Registering:
        @hookimpl
        def progan_register_losses(self, register) -> None: ...

    module = plugin(monkeypatch, "callbacks_plugin", progan_register_callbacks=lambda register: (
        register("empty", lambda options: object()), register("registering", lambda options: Registering())))
    host = PluginHost(entry_points=False, modules=[module])
    with pytest.raises(PluginError, match=r"callback 'empty' \(package callbacks_plugin\) implements no lifecycle hook"):
        host.create_callback("empty", {})
    with pytest.raises(PluginError, match="'progan_register_losses', which is not a hook it can implement"):
        host.create_callback("registering", {})


@pytest.mark.parametrize("config, message", [
    ({"callbacks": ["recorder", "recorder"]}, "names a callback twice"),
    ({"callbacks": ["recorder"], "callback_options": {"recordr": {}}}, r"'callback_options.recordr' is for a callback not listed"),
])
def test_callback_lists_are_checked(config, message) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(config)
