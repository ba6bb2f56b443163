"""The code a run is executed by, pinned in its episode record beside the manifest's versions (issue 16 §5).

`code_commit`: `AIAAS_CODE_COMMIT` when the image was built with it (containers carry no .git), else the
checkout's `git rev-parse HEAD`, else "unknown". `langgraph`: the installed distribution's version. Read once per
process.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import subprocess  # nosec B404: a fixed git command, no input
from pathlib import Path

__all__ = ["CODE_COMMIT_ENV", "build_info"]

CODE_COMMIT_ENV = "AIAAS_CODE_COMMIT"


@functools.cache
def build_info() -> dict[str, str]:
    return {"code_commit": _code_commit(), "langgraph": importlib.metadata.version("langgraph")}


def _code_commit() -> str:
    pinned = os.environ.get(CODE_COMMIT_ENV, "").strip()
    if pinned:
        return pinned
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        done = subprocess.run(  # noqa: S603  # nosec B603
            [git, "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else "unknown"
