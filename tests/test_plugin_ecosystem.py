"""Plugins from the outside: the skeleton generator, entry points, --plugin / PROGAN_PLUGINS, `progan plugins`, and checkpoints that name their plugins."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from progan import checkpoint, plugins
from progan.cli import main
from progan.config import from_dict
from progan.errors import PluginError
from progan.plugins import PluginHost
from progan.trainer import Trainer, latest_checkpoint, require_plugins

ROOT = Path(__file__).resolve().parent.parent
# 8×8 shapes, batches of 4: the first 4×4 phase of the progan architecture, two steps
TINY_RUN = ["--data", "shapes:16", "--resolution", "8", "--batch", "4", "--kimg", "0.008", "--set", "tick_kimg=0.004", "--set", "grid_size=4", "--no-progress"]

LOCAL_PLUGIN = '''
from progan.builtin.architectures import progan
from progan.hookspecs import hookimpl


class Marker:
    """Writes the images shown into RUN_DIR/marker when the run ends."""

    def __init__(self, options):
        self.name = options.get("name", "marker")

    @hookimpl
    def progan_train_end(self, trainer):
        (trainer.run_dir / self.name).write_text(str(trainer.images_shown))


@hookimpl
def progan_register_architectures(register):
    register("local-arch", lambda options: progan({"latent_size": 16, "fmap_base": 32, "fmap_max": 16, **options}))


@hookimpl
def progan_register_callbacks(register):
    register("local-marker", Marker)
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path for plugin modules and fake installed distributions; their modules are forgotten afterwards."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for module in [p.stem for p in folder.glob("*.py")]:
        sys.modules.pop(module, None)


def write_module(site: Path, name: str, source: str) -> str:
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def install(site: Path, package: str, entry_point: str, module: str, source: str) -> None:
    """A fake installed distribution ``package`` 1.2.3 whose ``progan`` entry point ``entry_point`` is ``module``."""
    write_module(site, module, source)
    info = site / f"{package.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[progan]\n{entry_point} = {module}\n")


@pytest.fixture
def local_plugin(site) -> str:
    return write_module(site, "local_plugin_mod", LOCAL_PLUGIN)


@pytest.fixture
def installed(site, monkeypatch):
    """Three fake installed plugins: one good (a loss), one that fails to import, one whose registration raises."""
    install(site, "progan-fake-good", "fakegood", "fake_good_mod", """
        from progan.builtin.losses import wgan_gp
        from progan.hookspecs import hookimpl

        @hookimpl
        def progan_register_losses(register):
            register("fake-loss", wgan_gp)
    """)
    install(site, "progan-fake-broken", "fakebroken", "fake_broken_mod", "import a_module_that_does_not_exist\n")
    install(site, "progan-fake-raising", "fakeraising", "fake_raising_mod", """
        from progan.hookspecs import hookimpl

        @hookimpl
        def progan_register_losses(register):
            register("fake-before", lambda options: None)
            raise RuntimeError("registration exploded")

        @hookimpl
        def progan_register_metrics(register):
            register("fake-metric", lambda options: None)
    """)
    monkeypatch.setenv("PROGAN_DISABLE_PLUGINS", "0")
    return site


# -- the skeleton generator ------------------------------------------------------------------------
def test_new_plugin_generates_a_package_whose_own_tests_pass(tmp_path, monkeypatch) -> None:
    tool = [sys.executable, str(ROOT / "tools" / "new_plugin.py")]
    subprocess.run([*tool, "tiny", "--out", str(tmp_path)], check=True, capture_output=True)
    package = tmp_path / "progan-tiny"
    assert sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()) == [
        "README.md", "progan_tiny/__init__.py", "pyproject.toml", "tests/test_plugin.py"]
    assert 'tiny = "progan_tiny"' in (package / "pyproject.toml").read_text()
    again = subprocess.run([*tool, "tiny", "--out", str(tmp_path)], capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr
    assert "lower-case letters" in subprocess.run([*tool, "Bad_Name"], capture_output=True, text=True).stderr

    env = {**os.environ, "PYTHONPATH": str(package), "PROGAN_DISABLE_PLUGINS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=package, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed, 1 skipped" in result.stdout  # the entry-point test needs pip install

    monkeypatch.syspath_prepend(str(package))
    host = PluginHost(entry_points=False, modules=["progan_tiny"])
    config = {"resolution": 8, "data": {"source": "shapes:16"}, "arch": {"name": "tiny", "width": 8}, "loss": {"name": "tiny-hinge"},
              "callbacks": ["tiny-log"], "callback_options": {"tiny-log": {"every": 2}}, "schedule": {"batch_size": 4, "total_kimg": 0.008}, "grid_size": 4}
    trainer = Trainer(from_dict(config), run_dir=tmp_path / "run", host=host)
    assert trainer.run().reason == "finished" and trainer.images_shown == 8
    packages = json.loads(checkpoint.read_metadata(latest_checkpoint(tmp_path / "run"))["packages"])
    assert packages == {"architectures": {"tiny": "progan_tiny"}, "losses": {"tiny-hinge": "progan_tiny"}, "callbacks": {"tiny-log": "progan_tiny"}}
    sys.modules.pop("progan_tiny", None)


# -- entry points, PROGAN_PLUGINS, PROGAN_DISABLE_PLUGINS -------------------------------------------
def test_installed_plugins_load_and_broken_ones_are_named_with_their_package(installed) -> None:
    with pytest.warns(UserWarning) as caught:
        host = PluginHost(entry_points=True)
    messages = "\n".join(str(w.message) for w in caught)
    assert "'fakebroken' (package progan-fake-broken) failed to load" in messages and "`pip uninstall progan-fake-broken`" in messages
    assert "'fakeraising' (package progan-fake-raising) raised while registering losses: RuntimeError" in messages
    good = host.info["fakegood"]
    assert (good.package, good.version, good.names, good.error) == ("progan-fake-good", "1.2.3", {"losses": ["fake-loss"]}, None)
    assert "ModuleNotFoundError" in host.info["fakebroken"].error
    assert host.info["fakeraising"].names == {"losses": ["fake-before"], "metrics": ["fake-metric"]}  # the rest still loads
    assert host.get("losses", "fake-loss").package == "progan-fake-good"


def test_progan_disable_plugins_keeps_installed_and_environment_plugins_out(installed, local_plugin, monkeypatch) -> None:
    monkeypatch.setenv("PROGAN_PLUGINS", local_plugin)
    monkeypatch.setenv("PROGAN_DISABLE_PLUGINS", "1")
    host = plugins.host(["progan.builtin.losses"])  # --plugin modules still load
    assert "fakegood" not in host.info and local_plugin not in host.info
    plugins.reset_host()
    monkeypatch.setenv("PROGAN_DISABLE_PLUGINS", "0")
    with pytest.warns(UserWarning):
        host = plugins.host()
    assert {"fakegood", local_plugin} <= set(host.info) and host.info[local_plugin].version == "local"


def test_progan_plugins_takes_several_comma_separated_modules(site, monkeypatch) -> None:
    for name in ("env_plugin_a", "env_plugin_b"):
        write_module(site, name, f"""
            from progan.hookspecs import hookimpl

            @hookimpl
            def progan_register_metrics(register):
                register("{name}", lambda options: None)
        """)
    monkeypatch.setenv("PROGAN_PLUGINS", " env_plugin_a, env_plugin_b ,")
    monkeypatch.setenv("PROGAN_DISABLE_PLUGINS", "0")
    assert {"env_plugin_a", "env_plugin_b"} <= set(plugins.host().registries["metrics"])


def test_a_local_module_that_fails_to_import_is_an_error_naming_it(site) -> None:
    write_module(site, "local_broken_mod", "raise ValueError('broken on purpose')\n")
    with pytest.raises(PluginError, match=r"plugin module 'local_broken_mod' failed to import: ValueError: broken on purpose"):
        PluginHost(entry_points=False, modules=["local_broken_mod"])


def test_a_module_loaded_through_its_entry_point_and_by_name_loads_once(installed) -> None:
    with pytest.warns(UserWarning):
        host = PluginHost(entry_points=True, modules=["fake_good_mod"])
    assert "fake_good_mod" not in host.info and host.get("losses", "fake-loss").plugin == "fakegood"


# -- progan plugins ---------------------------------------------------------------------------------
def test_progan_plugins_lists_packages_names_and_hooks(local_plugin, capsys) -> None:
    assert main(["plugins", "--plugin", local_plugin]) == 0
    out = capsys.readouterr().out
    assert f"{local_plugin}  ({local_plugin} local)\n    architectures  local-arch\n    callbacks      local-marker\n" in out
    assert "progan.builtin.losses  (progan " in out and "wgan-gp, logistic" in out
    assert main(["--plugin", local_plugin, "plugins", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert listed[local_plugin] == {"name": local_plugin, "package": local_plugin, "version": "local", "error": None, "hooks": [],
                                    "names": {"architectures": ["local-arch"], "callbacks": ["local-marker"]}}


def test_progan_plugins_shows_errors_and_exits_1(installed, capsys) -> None:
    with pytest.warns(UserWarning):
        assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    assert "fakebroken  (progan-fake-broken 1.2.3)\n    ERROR          ModuleNotFoundError" in out
    assert main(["plugins", "--json"]) == 1  # the same process-wide host: no new warnings
    errors = {entry["name"]: entry["error"] for entry in json.loads(capsys.readouterr().out)}
    assert errors["fakegood"] is None and "registration exploded" in errors["fakeraising"]


# -- --plugin on the command line, callbacks, and checkpoints that name their plugins ------------------
def test_train_takes_plugin_after_the_command_and_records_it(local_plugin, tmp_path, capsys) -> None:
    command = ["--plugin", "progan.builtin.losses", "train", "--plugin", local_plugin, "--arch", "local-arch", "--dry-run", *TINY_RUN]
    assert main([*command, "--callback", "local-marker"]) == 0
    printed = capsys.readouterr().out
    config = json.loads(printed[: printed.index("\n}\n") + 2])
    assert config["plugins"] == ["progan.builtin.losses", local_plugin] and config["callbacks"] == ["local-marker"]
    assert main([*command, "--callback", "local-markr"]) == 2
    assert "unknown callback 'local-markr' (did you mean 'local-marker'?)" in capsys.readouterr().err


def test_a_checkpoint_never_imports_the_modules_it_names(local_plugin, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--plugin", local_plugin, "--arch", "local-arch", "--callback", "local-marker", "--out", str(run), *TINY_RUN]) == 0
    assert (run / "marker").read_text() == "8"
    plugins.reset_host()  # a new process: the checkpoint names the module, but a file must not make us import code
    assert main(["train", "--resume", str(run), "--kimg", "0.016", "--no-progress"]) == 2
    assert f"`--plugin {local_plugin}`" in capsys.readouterr().err
    assert main(["generate", str(run), "--num", "4", "--out", str(tmp_path / "grid.png")]) == 2
    assert f"`--plugin {local_plugin}`" in capsys.readouterr().err
    plugins.reset_host()
    assert main(["train", "--plugin", local_plugin, "--resume", str(run), "--kimg", "0.016", "--no-progress"]) == 0
    assert (run / "marker").read_text() == "16"  # the callback is part of the stored config too
    assert main(["generate", "--plugin", local_plugin, str(run), "--num", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").is_file()


def test_a_checkpoint_whose_plugins_are_missing_names_their_packages(installed, tmp_path, capsys, monkeypatch) -> None:
    with pytest.warns(UserWarning):
        host = PluginHost(entry_points=True)
    arch = {"name": "progan", "latent_size": 16, "fmap_base": 32, "fmap_max": 16}
    config = from_dict({"resolution": 8, "data": {"source": "shapes:16"}, "arch": arch, "loss": {"name": "fake-loss"},
                        "schedule": {"batch_size": 4, "total_kimg": 0.004}, "grid_size": 4})
    Trainer(config, run_dir=tmp_path, host=host).run()
    saved = latest_checkpoint(tmp_path)
    with pytest.raises(PluginError, match=r"made with loss 'fake-loss' from package 'progan-fake-good', which is not installed; `pip install progan-fake-good`"):
        require_plugins(saved, PluginHost(entry_points=False))
    require_plugins(saved, host)  # everything there: no error
    monkeypatch.setenv("PROGAN_DISABLE_PLUGINS", "1")  # as if progan-fake-good were uninstalled
    assert main(["train", "--resume", str(tmp_path), "--no-progress"]) == 2
    assert "from package 'progan-fake-good', which is not installed" in capsys.readouterr().err
