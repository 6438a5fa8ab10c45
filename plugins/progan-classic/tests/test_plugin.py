"""The plugin registers its names through the hooks, the host and the installed entry point."""
from __future__ import annotations

import importlib.metadata

import pytest

import progan_classic
from progan.interfaces import Architecture, Loss

ARCHITECTURES = ["mlp", "dcgan"]
LOSSES = ["minimax", "hinge", "lsgan"]


def test_hooks_register_factories_that_build_from_empty_options() -> None:
    registered: dict[str, object] = {}
    progan_classic.progan_register_architectures(register=registered.__setitem__)
    assert list(registered) == ARCHITECTURES and all(isinstance(registered[n]({}), Architecture) for n in ARCHITECTURES)
    registered.clear()
    progan_classic.progan_register_losses(register=registered.__setitem__)
    assert list(registered) == LOSSES and all(isinstance(registered[n]({}), Loss) for n in LOSSES)


def test_plugin_host_registers_the_names() -> None:
    from progan.plugins import PluginHost

    try:
        host = PluginHost(entry_points=False, modules=["progan_classic"])
    except ImportError as exc:  # the core's built-in plugins are written in parallel with this one
        pytest.skip(f"progan's built-in plugins do not import yet: {exc}")
    assert host.info["progan_classic"].names == {"architectures": ARCHITECTURES, "losses": LOSSES}
    assert isinstance(host.create("architectures", "dcgan", {"ngf": 8}), Architecture)
    assert isinstance(host.create("losses", "lsgan", {"c": 0.5}), Loss)


def test_entry_point_points_at_the_package() -> None:
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="progan")}
    if "classic" not in entry_points:
        pytest.skip("progan-classic is not installed (pip install -e plugins/progan-classic)")
    assert entry_points["classic"].value == "progan_classic" and entry_points["classic"].load() is progan_classic
