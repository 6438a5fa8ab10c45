"""The package is a progan plugin: its entry point is declared and the plugin host registers its names."""
from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np
import pytest

NAMES = {"mnist", "fashion-mnist", "emnist", "cifar10", "cifar100"}
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_pyproject_declares_the_entry_point() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["entry-points"]["progan"] == {"datasets": "progan_datasets"}
    assert project["name"] == "progan-datasets"


def test_installed_distribution_exposes_the_entry_point() -> None:
    try:
        distribution = importlib.metadata.distribution("progan-datasets")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("progan-datasets is not installed; pip install -e plugins/progan-datasets --no-deps")
    points = {(p.group, p.name, p.value) for p in distribution.entry_points}
    assert ("progan", "datasets", "progan_datasets") in points


def test_plugin_host_registers_the_names(tmp_path: Path, write_idx) -> None:
    from progan.builtin import DEFAULT_PLUGINS

    # Built-ins are written by others in parallel; a missing one is not this package's failure.
    missing = [name for name in DEFAULT_PLUGINS if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"built-in plugin module(s) not written yet: {', '.join(missing)}")
    from progan.plugins import PluginHost

    host = PluginHost(entry_points=False, modules=["progan_datasets"])
    registered = {name for name, registration in host.registries["datasets"].items() if registration.plugin == "progan_datasets"}
    assert registered == NAMES
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([4, 2], np.uint8))
    data = host.create("datasets", "fashion-mnist", f"{tmp_path}:test", resolution=64)
    assert data.images.shape == (2, 32, 32, 1) and data.labels.tolist() == [4, 2]
