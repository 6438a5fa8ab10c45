"""No code execution from files: an AST scan of progan/ and plugins/ (not a grep), plus behavioural checks.

Forbidden anywhere in progan/ and plugins/ (library and tests):
* importing pickle-family modules (pickle, cPickle, _pickle, dill, cloudpickle, shelve, marshal, joblib);
* ``torch.load`` without ``weights_only=True`` (a literal True), ``torch.jit.load``, ``torch.package``;
* ``numpy.load`` without ``allow_pickle=False`` (a literal False), ``pandas.read_pickle``;
* ``yaml.load`` / ``yaml.unsafe_load`` / ``yaml.full_load`` (``yaml.safe_load`` is fine);
* the builtins ``eval``, ``exec``, ``compile`` and ``__import__``.
Aliases are followed: ``import torch as T; T.load(...)``, ``from numpy import load``,
``from torch import load as L`` and ``getattr(torch, "load")`` are all caught.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

ROOT = Path(__file__).resolve().parents[1]
SCANNED = [ROOT / "progan", ROOT / "plugins"]
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib", "pickletools"}
BUILTINS = {"eval", "exec", "compile", "__import__"}


def python_files() -> list[Path]:
    files = sorted(p for root in SCANNED for p in root.rglob("*.py") if ".venv" not in p.parts and "build" not in p.parts)
    assert len(files) > 20, "the scan found suspiciously few files"
    return files


class Scanner(ast.NodeVisitor):
    """Collects (line, problem) for one module, resolving import aliases to dotted names."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> dotted module/function it stands for
        self.problems: list[tuple[int, str]] = []

    # -- imports ---------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in PICKLE_MODULES:
                self.problems.append((node.lineno, f"imports {alias.name}"))
            self.aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module.split(".")[0] in PICKLE_MODULES:
            self.problems.append((node.lineno, f"imports from {module}"))
        for alias in node.names:
            if alias.name in PICKLE_MODULES:
                self.problems.append((node.lineno, f"imports {alias.name} from {module}"))
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}" if module else alias.name
        self.generic_visit(node)

    # -- calls -----------------------------------------------------------------------------------
    def dotted(self, node: ast.AST) -> str | None:
        """``T.jit.load`` -> ``torch.jit.load`` when ``T`` is torch; None for anything not a plain dotted name."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
            base, attr = self.dotted(node.args[0]), node.args[1]
            if base and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                return f"{base}.{attr.value}"
        return None

    @staticmethod
    def keyword(node: ast.Call, name: str):
        for kw in node.keywords:
            if kw.arg == name:
                return kw.value.value if isinstance(kw.value, ast.Constant) else "<not a literal>"
        return "<missing>"

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func)
        line = node.lineno
        if isinstance(node.func, ast.Name) and node.func.id in BUILTINS and node.func.id not in self.aliases:
            self.problems.append((line, f"calls {node.func.id}()"))
        elif name == "torch.load" and self.keyword(node, "weights_only") is not True:
            self.problems.append((line, "torch.load without weights_only=True"))
        elif name in ("torch.jit.load", "torch.package.PackageImporter", "pandas.read_pickle", "yaml.load", "yaml.unsafe_load", "yaml.full_load", "numpy.lib.format.read_array"):
            self.problems.append((line, f"calls {name}"))
        elif name in ("numpy.load",) and self.keyword(node, "allow_pickle") is not False:
            self.problems.append((line, "numpy.load without allow_pickle=False"))
        elif name and name.split(".")[0] in PICKLE_MODULES:
            self.problems.append((line, f"calls {name}"))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # a reference (not only a call) to a loader that executes code, e.g. passing torch.load as a callback
        name = self.dotted(node)
        if name in ("torch.load", "numpy.load") and not getattr(node, "_called", False):
            self.problems.append((node.lineno, f"refers to {name} outside a checked call"))
        self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Call):
            node.func._called = True  # the call itself is checked in visit_Call
        super().generic_visit(node)


def scan(source: str) -> list[tuple[int, str]]:
    scanner = Scanner()
    scanner.visit(ast.parse(source))
    return scanner.problems


def test_scanner_catches_what_it_should():
    bad = {
        "import pickle": "imports pickle",
        "from pickle import loads": "imports from pickle",
        "import dill as d": "imports dill",
        "import torch\ntorch.load('x')": "torch.load without weights_only=True",
        "import torch as T\nT.load('x', weights_only=False)": "torch.load without weights_only=True",
        "from torch import load as L\nL('x')": "torch.load without weights_only=True",
        "import torch\ngetattr(torch, 'load')('x')": "torch.load without weights_only=True",
        "import torch\nf = torch.load": "refers to torch.load",
        "import torch\ntorch.jit.load('m.pt')": "calls torch.jit.load",
        "import numpy as np\nnp.load('x.npz')": "numpy.load without allow_pickle=False",
        "from numpy import load\nload('x.npy', allow_pickle=True)": "numpy.load without allow_pickle=False",
        "import yaml\nyaml.load(s)": "calls yaml.load",
        "eval('1+1')": "calls eval()",
        "exec(code)": "calls exec()",
        "compile(src, 'f', 'exec')": "calls compile()",
        "__import__(name)": "calls __import__()",
    }
    for source, problem in bad.items():
        found = scan(source)
        assert any(problem in p for _, p in found), (source, found)
    good = [
        "import torch\ntorch.load('x', weights_only=True)",
        "import numpy as np\nnp.load('x', allow_pickle=False)",
        "import yaml\nyaml.safe_load(s)",
        "import safetensors.torch\nsafetensors.torch.load_file('x')",
        "import re\nre.compile('a+')",
        "model.eval()",
    ]
    for source in good:
        assert scan(source) == [], source


def test_no_code_execution_from_files_in_progan_or_plugins():
    problems = []
    for path in python_files():
        for line, problem in scan(path.read_text()):
            problems.append(f"{path.relative_to(ROOT)}:{line}: {problem}")
    assert not problems, "\n".join(problems)


# -- behaviour: files are data, never code ----------------------------------------------------------------


def test_npz_with_pickled_objects_is_refused_not_unpickled(tmp_path):
    from progan.data import read_path
    from progan.errors import DataError

    path = tmp_path / "evil.npz"
    np.savez(path, images=np.array([object()], dtype=object))
    with pytest.raises(DataError, match="without pickled objects"):
        read_path(path)


def test_metadata_strings_are_never_evaluated(tmp_path, monkeypatch):
    """Config values that look like Python stay strings or are refused; none is passed to eval/exec."""
    import builtins

    from progan import checkpoint
    from progan.config import from_dict
    from progan.errors import ConfigError

    calls = []
    for forbidden in ("eval", "exec"):
        real = getattr(builtins, forbidden)
        monkeypatch.setattr(builtins, forbidden, lambda *a, _real=real, **k: calls.append(repr(a[:1])) or _real(*a, **k))
    try:
        with pytest.raises(ConfigError):
            from_dict({"resolution": "__import__('os').system('echo pwned')"})
        source = from_dict({"data": {"source": "__import__('os').system('x')"}}).data.source
        path = tmp_path / "x.safetensors"
        checkpoint.save(path, {"w": torch.zeros(1)}, {"format": checkpoint.CHECKPOINT_FORMAT, "format_version": "1", "config": json.dumps({"resolution": "lambda: 1"})})
        _, metadata = checkpoint.read(path)
    finally:
        monkeypatch.undo()
    # typing.get_type_hints evaluates the dataclasses' own annotation strings; no value from a file ever is
    assert not [c for c in calls if "pwned" in c or "system" in c or "lambda" in c]
    assert source == "__import__('os').system('x')"
    assert metadata["config"] == json.dumps({"resolution": "lambda: 1"})


def test_plugin_names_from_a_file_cannot_be_paths(tmp_path):
    """A checkpoint's recorded plugin modules are imported by module name only; paths and code are refused."""
    from progan.errors import PluginError
    from progan.plugins import PluginHost

    (tmp_path / "evil.py").write_text("raise SystemExit('imported')\n")
    for name in (str(tmp_path / "evil.py"), "../evil", "os; import evil"):
        with pytest.raises(PluginError):
            PluginHost(entry_points=False, modules=[name])


def test_checkpoint_files_hold_only_safetensors(tmp_path):
    """What the trainer writes starts with a safetensors header (JSON) - no pickle protocol bytes."""
    from progan import checkpoint

    path = tmp_path / "c.safetensors"
    checkpoint.save(path, {"w": torch.ones(3)}, {"format": checkpoint.CHECKPOINT_FORMAT, "format_version": "1"})
    data = path.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    json.loads(data[8 : 8 + header_len])
    assert data[:2] != b"\x80\x04" and safetensors.torch.load(data)["w"].tolist() == [1.0, 1.0, 1.0]
