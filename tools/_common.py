"""What the tools share: one-line errors with exit code 2, a run folder's log, and matplotlib on demand."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable

from progan.errors import DataError, ProganError

Main = Callable[[list[str] | None], int]


def one_line_errors(tool: str) -> Callable[[Main], Main]:
    """Decorate ``main(argv) -> int`` so that a ProganError prints one line and returns 2, as ``progan`` does."""

    def decorate(main: Main) -> Main:
        @functools.wraps(main)
        def wrapper(argv: list[str] | None = None) -> int:
            try:
                return main(argv)
            except ProganError as exc:
                print(f"{tool}: error: {exc}", file=sys.stderr)
                return 2

        return wrapper

    return decorate


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The tick records of RUN_DIR/log.jsonl in order of images shown; a resumed run's repeated ticks count once."""
    path = Path(run_dir) / "log.jsonl"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(f"{path}: not found; give a run folder (progan train --out RUN_DIR)") from None
    records = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a crash mid-write leaves a partial last line
            continue
        records[record["images_shown"]] = record  # after a resume the later record wins
    return [records[n] for n in sorted(records)]


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or a one-line hint to install the plot extra."""
    try:
        import matplotlib
    except ImportError:
        raise ProganError("drawing plots needs matplotlib: pip install 'progan[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
