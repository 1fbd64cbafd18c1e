"""Running the CLI as a user does: a subprocess, a fixed terminal width, stdout then stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = "120"


def netcalc(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": WIDTH, "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("NETCALC_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "netcalc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def shown(result: subprocess.CompletedProcess) -> str:
    """What a user sees in a terminal (stdout, then stderr), without trailing spaces."""
    text = result.stdout + result.stderr
    return "\n".join(line.rstrip() for line in text.splitlines())
