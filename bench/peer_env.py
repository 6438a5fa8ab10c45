"""The virtual environment the side-by-side benchmarks run pro-gan-pth in, made once by ``setup_peer_venv.sh``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO / "bench" / ".peer-venv"
DEFAULT_SHARED = REPO.parent / "shared"


def ensure_peer_python(venv: Path = DEFAULT_VENV, shared: Path = DEFAULT_SHARED) -> Path:
    """The peer environment's python, after creating the environment with ``shared``'s script if it is missing."""
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        print(f"# creating the peer environment {venv} (once) ...", file=sys.stderr, flush=True)
        script = Path(shared) / "bench" / "setup_peer_venv.sh"
        subprocess.run(["bash", str(script), str(venv)], check=True, stdout=subprocess.DEVNULL)
    return python
