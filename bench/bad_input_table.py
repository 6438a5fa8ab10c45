"""Every bad input through the CLI in a subprocess: prints a markdown table input -> message -> exit code.

Run from the repository root::

    .venv/bin/python bench/bad_input_table.py            # about 2-5 minutes (one process per case)
    .venv/bin/python bench/bad_input_table.py --only resume

Each case is built under a temporary folder (a tiny trained run for the --resume cases); the
table shows the first ``progan: error:`` line (or the warning, for inputs that are accepted
with a warning) and the exit code, and flags any traceback.  tests/test_bad_input.py runs the
same cases in-process and asserts the expected words.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

TINY_ARCH = ["--set", "arch.latent_size=16", "--set", "arch.fmap_base=32", "--set", "arch.fmap_max=16"]
FAST = ["--threads", "1", "--no-progress"]


@dataclass
class Case:
    """One bad input: the CLI words, the exit code and the words its message must contain."""

    name: str
    argv: list[str]
    expect: tuple[str, ...]
    code: int = 2
    warning: bool = False  # accepted with a warning: ``expect`` is looked for in the warning line
    warns: tuple[str, ...] = ()  # words a warning printed before the error must contain
    touches: list[Path] = field(default_factory=list)  # saved files that must be byte-identical afterwards


BUILDERS: list[tuple[str, Callable]] = []


def case(name: str):
    def register(builder: Callable) -> Callable:
        BUILDERS.append((name, builder))
        return builder

    return register


CASE_NAMES = []  # filled below, in table order


# -- fixtures ------------------------------------------------------------------------------------------


class Fixtures:
    """The files the cases need, made once under ``root``: a tiny dataset, a trained run, images."""

    def __init__(self, root: Path) -> None:
        import numpy as np

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.npz = root / "tiny.npz"
        rng = np.random.default_rng(0)
        np.savez(self.npz, images=rng.integers(0, 256, (32, 16, 16, 3), dtype=np.uint8))
        self.run = root / "run"
        if not (self.run / "checkpoints").is_dir():
            make_run(self.npz, self.run)
        self.ckpt = sorted((self.run / "checkpoints").glob("ckpt-*.safetensors"))[-1]
        (root / "plugins").mkdir(exist_ok=True)

    def out(self, name: str) -> str:
        return str(self.root / "out" / name)

    def train(self, name: str, *extra: str, data: str | None = None) -> list[str]:
        return ["train", "--data", data or str(self.npz), "--resolution", "8", *TINY_ARCH, "--kimg", "0.016", "--batch", "8", *FAST, "--out", self.out(name), *extra]

    def broken_run(self, name: str, data: bytes) -> Path:
        """A run folder whose only checkpoint is ``data``."""
        folder = self.root / name
        (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
        (folder / "checkpoints" / self.ckpt.name).write_bytes(data)
        return folder

    def plugin(self, name: str, body: str) -> str:
        (self.root / "plugins" / f"{name}.py").write_text(textwrap.dedent(body))
        return name

    def saved_files(self) -> list[Path]:
        return sorted(p for p in self.run.rglob("*") if p.is_file())


def make_run(npz: Path, run: Path) -> None:
    """A tiny finished run at 16 px (in-process, one thread)."""
    import torch

    from progan.config import from_dict
    from progan.trainer import Trainer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = from_dict({
            "resolution": 16, "data": {"source": str(npz)}, "arch": {"name": "progan", "latent_size": 16, "fmap_base": 32, "fmap_max": 16},
            "schedule": {"stabilise_kimg": 0.016, "fade_kimg": 0.016, "batch_size": 8}, "tick_kimg": 0.016, "checkpoint_kimg": 0.032, "grid_size": 4,
        })
        Trainer(config, run_dir=run).run()
    finally:
        torch.set_num_threads(threads)


def image_bytes(mode: str = "RGB", size: tuple[int, int] = (16, 16), fmt: str = "PNG") -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("L", "1") else (10, 200, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def header_file(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + body


# -- the cases -----------------------------------------------------------------------------------------


@case("data: missing folder")
def _(f: Fixtures) -> Case:
    return Case("", f.train("missing", data=str(f.root / "no-such-folder")), ("no-such-folder", "no such file or folder"))


@case("data: empty folder")
def _(f: Fixtures) -> Case:
    (f.root / "empty").mkdir(exist_ok=True)
    return Case("", f.train("empty", data=str(f.root / "empty")), ("empty", "no PNG/JPEG/WebP images found"))


@case("data: only corrupt images (zero-byte, truncated, garbage)")
def _(f: Fixtures) -> Case:
    folder = f.root / "all-corrupt"
    folder.mkdir(exist_ok=True)
    (folder / "zero.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(image_bytes()[:40])
    (folder / "garbage.jpg").write_bytes(b"not an image at all" * 10)
    return Case("", f.train("all-corrupt", data=str(folder)), ("all-corrupt", "none of the 3 image files could be read"))


@case("data: a truncated image among good ones")
def _(f: Fixtures) -> Case:
    folder = f.root / "some-corrupt"
    folder.mkdir(exist_ok=True)
    for i in range(3):
        (folder / f"good{i}.png").write_bytes(image_bytes())
    (folder / "truncated.png").write_bytes(image_bytes()[:40])
    return Case("", f.train("some-corrupt", data=str(folder)), ("skipped 1 unreadable image(s)", "--strict"), code=0, warning=True)


@case("data: a truncated image with --strict")
def _(f: Fixtures) -> Case:
    folder = f.root / "strict-corrupt"
    folder.mkdir(exist_ok=True)
    (folder / "good.png").write_bytes(image_bytes())
    (folder / "truncated.png").write_bytes(image_bytes()[:40])
    return Case("", f.train("strict", "--strict", data=str(folder)), ("truncated.png", "unreadable image", "drop --strict"))


@case("data: images smaller than the target")
def _(f: Fixtures) -> Case:
    folder = f.root / "small"
    folder.mkdir(exist_ok=True)
    for i in range(2):
        (folder / f"small{i}.png").write_bytes(image_bytes(size=(4, 4)))
    return Case("", f.train("small", data=str(folder)), ("smaller than the target 8", "upscaled", "--resolution 4"), code=0, warning=True)


@case("data: .npz with pickled objects")
def _(f: Fixtures) -> Case:
    import numpy as np

    path = f.root / "pickled.npz"
    np.savez(path, images=np.array([{"a": 1}], dtype=object))
    return Case("", f.train("pickled", data=str(path)), ("pickled.npz", "without pickled objects"))


@case("data: .npz of float images")
def _(f: Fixtures) -> Case:
    import numpy as np

    path = f.root / "float.npz"
    np.savez(path, images=np.zeros((4, 8, 8, 3), np.float32))
    return Case("", f.train("float", data=str(path)), ("float.npz", "must be uint8", "astype('uint8')"))


@case("data: .npz with 4 channels")
def _(f: Fixtures) -> Case:
    import numpy as np

    path = f.root / "rgba.npz"
    np.savez(path, images=np.zeros((4, 8, 8, 4), np.uint8))
    return Case("", f.train("rgba", data=str(path)), ("rgba.npz", "1 or 3 channels"))


@case("data: a single corrupt image file")
def _(f: Fixtures) -> Case:
    path = f.root / "single-broken.png"
    path.write_bytes(image_bytes()[:30])
    return Case("", f.train("single", data=str(path)), ("single-broken.png", "unreadable image", "replace the file"))


@case("config: resolution not a power of two (24)")
def _(f: Fixtures) -> Case:
    argv = f.train("res24")
    argv[argv.index("--resolution") + 1] = "24"
    return Case("", argv, ("'resolution' must be a power of two", "got 24"))


@case("config: unknown key (--set schedule.fade_kimgg=1)")
def _(f: Fixtures) -> Case:
    return Case("", f.train("unknown", "--set", "schedule.fade_kimgg=1"), ("unknown config key 'schedule.fade_kimgg'", "did you mean 'schedule.fade_kimg'"))


@case("config: wrong type in a TOML file (stabilise_kimg = \"ten\")")
def _(f: Fixtures) -> Case:
    path = f.root / "wrong-type.toml"
    path.write_text('[schedule]\nstabilise_kimg = "ten"\n')
    return Case("", f.train("wrongtype", "--config", str(path)), ("'schedule.stabilise_kimg' must be a number", "'ten'"))


@case("config: negative kimg (--kimg -1)")
def _(f: Fixtures) -> Case:
    argv = f.train("negkimg")
    argv[argv.index("--kimg") + 1] = "-1"
    return Case("", argv, ("'schedule.total_kimg' must be positive", "-1"))


@case("config: zero fade kimg (--fade-kimg 0)")
def _(f: Fixtures) -> Case:
    return Case("", f.train("zerofade", "--fade-kimg", "0"), ("'schedule.fade_kimg' must be positive",))


@case("config: a non-finite number (--set tick_kimg=Infinity)")
def _(f: Fixtures) -> Case:
    return Case("", f.train("inf", "--set", "tick_kimg=Infinity"), ("'tick_kimg' must be a finite number", "inf"))


@case("config: missing config file")
def _(f: Fixtures) -> Case:
    return Case("", f.train("nocfg", "--config", str(f.root / "nope.toml")), ("nope.toml", "config file not found"))


@case("config: invalid TOML")
def _(f: Fixtures) -> Case:
    path = f.root / "broken.toml"
    path.write_text("[schedule\nbatch_size = 8\n")
    return Case("", f.train("badtoml", "--config", str(path)), ("broken.toml", "not valid TOML"))


@case("config: --set without '='")
def _(f: Fixtures) -> Case:
    return Case("", f.train("noeq", "--set", "schedule.fade_kimg"), ("expected KEY=VALUE",))


@case("config: unknown --on-nan mode")
def _(f: Fixtures) -> Case:
    path = f.root / "on-nan.toml"
    path.write_text('on_nan = "ignore"\n')
    return Case("", f.train("onnan", "--config", str(path)), ("'on_nan' must be one of 'stop', 'rollback'",))


@case("resume: another resolution (--resolution 8)")
def _(f: Fixtures) -> Case:
    return Case("", ["train", "--resume", str(f.run), "--resolution", "8", *FAST], ("holds a progan model at 16px", "resume with the checkpoint's own config"), touches=f.saved_files())


@case("resume: another channel count (--channels 1)")
def _(f: Fixtures) -> Case:
    return Case("", ["train", "--resume", str(f.run), "--channels", "1", *FAST], ("with 3 channel(s)", "builds progan at 16px with 1"), touches=f.saved_files())


@case("resume: another network size (--set arch.fmap_max=8)")
def _(f: Fixtures) -> Case:
    return Case("", ["train", "--resume", str(f.run), "--set", "arch.fmap_max=8", *FAST], ("arch.fmap_max = 16", "builds arch.fmap_max = 8", "drop --set arch.fmap_max"), touches=f.saved_files())


@case("resume: another architecture (--arch progan2)")
def _(f: Fixtures) -> Case:
    module = f.plugin("other_arch", """
        from progan.hookspecs import hookimpl
        from progan.builtin.architectures import progan

        @hookimpl
        def progan_register_architectures(register):
            register("progan2", progan)
    """)
    return Case("", ["--plugin", module, "train", "--resume", str(f.run), "--arch", "progan2", *FAST], ("holds a progan model", "builds progan2"), touches=f.saved_files())


@case("resume: a folder without checkpoints")
def _(f: Fixtures) -> Case:
    (f.root / "no-ckpts").mkdir(exist_ok=True)
    return Case("", ["train", "--resume", str(f.root / "no-ckpts"), *FAST], ("no-ckpts", "no checkpoints", "nothing to resume"))


@case("resume: a missing checkpoint file")
def _(f: Fixtures) -> Case:
    return Case("", ["train", "--resume", str(f.root / "ckpt-404.safetensors"), *FAST], ("ckpt-404.safetensors", "no such checkpoint file"))


@case("checkpoint: zero bytes")
def _(f: Fixtures) -> Case:
    folder = f.broken_run("zero-ckpt", b"")
    return Case("", ["train", "--resume", str(folder), *FAST], ("zero-ckpt", "file is truncated (0 bytes)", "use an earlier checkpoint"))


@case("checkpoint: truncated to half")
def _(f: Fixtures) -> Case:
    data = f.ckpt.read_bytes()
    folder = f.broken_run("half-ckpt", data[: len(data) // 2])
    return Case("", ["train", "--resume", str(folder), *FAST], ("half-ckpt", "truncated", "use an earlier checkpoint"))


@case("checkpoint: bytes flipped in the tensor data")
def _(f: Fixtures) -> Case:
    data = bytearray(f.ckpt.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    middle = 8 + header_len + (len(data) - 8 - header_len) // 2
    data[middle : middle + 4] = bytes(b ^ 0xFF for b in data[middle : middle + 4])
    folder = f.broken_run("flipped-ckpt", bytes(data))
    return Case("", ["train", "--resume", str(folder), *FAST], ("flipped-ckpt", "does not match its checksum", "use an earlier checkpoint"))


@case("checkpoint: header claims 2**60 bytes")
def _(f: Fixtures) -> Case:
    folder = f.broken_run("huge-header", struct.pack("<Q", 2**60) + b"{}")
    return Case("", ["train", "--resume", str(folder), *FAST], ("huge-header", "corrupt safetensors header (claims 1152921504606846976 bytes"))


@case("checkpoint: header is not JSON")
def _(f: Fixtures) -> Case:
    folder = f.broken_run("garbage-header", header_file(b"\xff\xfe not json {{{"))
    return Case("", ["train", "--resume", str(folder), *FAST], ("garbage-header", "not JSON"))


@case("checkpoint: header nested 100000 deep")
def _(f: Fixtures) -> Case:
    folder = f.broken_run("deep-header", header_file(b"[" * 100_000 + b"]" * 100_000))
    return Case("", ["train", "--resume", str(folder), *FAST], ("deep-header", "corrupt safetensors header"))


@case("checkpoint: header with malformed data_offsets")
def _(f: Fixtures) -> Case:
    header = json.dumps({"__metadata__": {"format": "progan-checkpoint"}, "w": {"dtype": "F32", "shape": [1], "data_offsets": "zero"}}).encode()
    folder = f.broken_run("offsets-header", header_file(header, b"\0" * 4))
    return Case("", ["train", "--resume", str(folder), *FAST], ("offsets-header", "no valid data_offsets"))


@case("checkpoint: a plain safetensors file (not progan's)")
def _(f: Fixtures) -> Case:
    import safetensors.torch
    import torch

    folder = f.broken_run("foreign", safetensors.torch.save({"w": torch.zeros(2)}))
    return Case("", ["train", "--resume", str(folder), *FAST], ("foreign", "not a progan training checkpoint", "--resume takes a run folder"))


@case("export: config.json disagrees with model.safetensors")
def _(f: Fixtures) -> Case:
    from progan.export import export

    out = f.root / "export-edited"
    if not out.exists():
        export(f.ckpt, out)
    config = json.loads((out / "config.json").read_text())
    config["model"]["resolution"] = 32
    (out / "config.json").write_text(json.dumps(config))
    return Case("", ["generate", str(out), "--num", "1", "--out", str(f.root / "out" / "g1.png")], ("config.json", "disagrees with model.safetensors", "model.resolution"))


@case("export: metadata disagrees with its tensors")
def _(f: Fixtures) -> Case:
    import safetensors.torch

    from progan import checkpoint

    tensors, metadata = checkpoint.read(f.ckpt)
    model = json.loads(metadata["model"])
    model["arch_options"]["fmap_max"] = 8  # the tensors were made with 16
    export_meta = {"format": checkpoint.EXPORT_FORMAT, "format_version": "1", "model": json.dumps(model)}
    out = f.root / "export-forged"
    out.mkdir(exist_ok=True)
    g = {k.replace("G_ema.", "G.", 1): v for k, v in tensors.items() if k.startswith("G_ema.")}
    (out / "model.safetensors").write_bytes(safetensors.torch.save(g, metadata=export_meta))
    return Case("", ["generate", str(out), "--num", "1", "--out", str(f.root / "out" / "g2.png")], ("model.safetensors", "has shape", "but the config builds"))


@case("plugin: fails to import")
def _(f: Fixtures) -> Case:
    module = f.plugin("broken_import", "raise RuntimeError('boom at import')\n")
    return Case("", ["--plugin", module, *f.train("plugin-import")], ("broken_import", "failed to import", "boom at import", "drop it from --plugin"))


@case("plugin: raises while registering")
def _(f: Fixtures) -> Case:
    module = f.plugin("broken_register", """
        from progan.hookspecs import hookimpl

        @hookimpl
        def progan_register_architectures(register):
            raise ValueError("boom while registering")
    """)
    return Case("", ["--plugin", module, *f.train("plugin-register", "--arch", "mine")], ("unknown architecture 'mine'",),
                warns=("broken_register", "raised while registering", "boom while registering"))


@case("output: --out inside a file")
def _(f: Fixtures) -> Case:
    (f.root / "a-file").write_text("x")
    argv = f.train("x")
    argv[argv.index("--out") + 1] = str(f.root / "a-file" / "run")
    return Case("", argv, ("a-file", "is a file, not a folder", "choose another --out"))


@case("output: --out not writable (/sys)")
def _(f: Fixtures) -> Case:
    argv = f.train("x")
    argv[argv.index("--out") + 1] = "/sys/progan-run"
    return Case("", argv, ("/sys/progan-run", "cannot write", "choose another --out"))


@case("output: --out already holds a run")
def _(f: Fixtures) -> Case:
    argv = f.train("x")
    argv[argv.index("--out") + 1] = str(f.run)
    return Case("", argv, ("already holds a run", f"--resume {f.run}"), touches=f.saved_files())


for _name, _ in BUILDERS:
    CASE_NAMES.append(_name)


def build_cases(root: Path) -> dict[str, Case]:
    fixtures = Fixtures(root)
    cases = {}
    for name, builder in BUILDERS:
        made = builder(fixtures)
        made.name = name
        cases[name] = made
    return cases


# -- running -------------------------------------------------------------------------------------------


def message_lines(stderr: str, *, warning: bool) -> list[str]:
    prefix = "progan: warning:" if warning else "progan: error:"
    return [line for line in stderr.splitlines() if line.startswith(prefix)]


def run_subprocess(case: Case, root: Path) -> tuple[int, str]:
    env = {**os.environ, "PROGAN_DISABLE_PLUGINS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "plugins"), os.environ.get("PYTHONPATH", "")]))}
    proc = subprocess.run([sys.executable, "-m", "progan", *case.argv], capture_output=True, text=True, env=env, timeout=600, cwd=root)
    return proc.returncode, proc.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="cases whose name contains this text")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="progan-bad-input-"))
    try:
        cases = [c for c in build_cases(root).values() if not args.only or args.only in c.name]
        before = {c.name: {p: p.read_bytes() for p in c.touches} for c in cases}
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda c: run_subprocess(c, root), cases))
        failures = 0
        print("| input | message | exit code |")
        print("|---|---|---|")
        for c, (code, stderr) in zip(cases, results):
            lines = message_lines(stderr, warning=c.warning)
            shown = lines[0] if lines else (stderr.strip().splitlines() or ["(nothing)"])[-1]
            problems = []
            if code != c.code:
                problems.append(f"expected exit {c.code}")
            if "Traceback" in stderr:
                problems.append("TRACEBACK")
            if not c.warning and len(lines) != 1:
                problems.append(f"{len(lines)} error lines")
            missing = [w for w in c.expect if not any(w in line for line in lines)]
            warnings = message_lines(stderr, warning=True)
            missing += [w for w in c.warns if not any(w in line for line in warnings)]
            if c.warns and warnings and not c.warning:
                shown = f"{warnings[0]}` then `{shown}"
            shown = shown.replace(str(root), "…").replace("|", "\\|")
            if missing:
                problems.append(f"missing {missing}")
            changed = [p.name for p, data in before[c.name].items() if not p.is_file() or p.read_bytes() != data]
            if changed:
                problems.append(f"CHANGED saved files {changed}")
            failures += bool(problems)
            flag = f" **{'; '.join(problems)}**" if problems else ""
            print(f"| {c.name} | `{shown}`{flag} | {code} |")
        print(f"\n{len(cases)} cases, {failures} not as expected")
        return 1 if failures else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
