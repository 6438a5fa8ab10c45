"""The command line: argument parsing, progress bars and printing; the library does the work.

Each command lives in ``progan/commands/<name>.py`` with ``add_parser(subparsers)`` that sets
``func``; a library error (ProganError) becomes one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import sys
import warnings

from progan.errors import ProganError

COMMAND_MODULES = (
    "progan.commands.train",
    "progan.commands.generate",
    "progan.commands.export",
    "progan.commands.inspect",
    "progan.commands.metrics",
    "progan.commands.plugins",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="progan", description="Progressive GAN training with plugins, safe weights and exact resume.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="load a local plugin module (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    for command in sub.choices.values():  # `progan train --plugin m` as well as `progan --plugin m train`
        command.add_argument("--plugin", action="append", default=[], dest="command_plugins", metavar="MODULE", help="load a local plugin module (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    args.plugin = [*args.plugin, *args.command_plugins]
    if not args.debug:
        warnings.formatwarning = lambda message, category, *rest: f"progan: warning: {message}\n"
    try:
        from progan.plugins import host

        host(args.plugin)
        return args.func(args)
    except ProganError as exc:
        if args.debug:
            raise
        print(f"progan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("progan: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the environment's fault (disk full, permissions): one line, like a ProganError
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        fix = "; free disk space or choose another --out" if exc.errno == errno.ENOSPC else ""
        print(f"progan: error: {where}{exc.strerror or exc}{fix} (--debug shows the traceback)", file=sys.stderr)
        return 2


def pick_device(name: str) -> str:
    """``auto`` is CUDA when present, else the CPU."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


if __name__ == "__main__":
    sys.exit(main())
