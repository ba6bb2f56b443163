"""What a check reports: one finding per problem, printed `ERROR [rule] message` by check.py."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finding", "run_tool"]


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str


def run_tool(args: list[str | Path], cwd: Path) -> tuple[int, str]:
    """Run promtool/amtool; (exit code, stdout + stderr)."""
    done = subprocess.run(  # noqa: S603 - our pinned tools on our files
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, timeout=300
    )
    return done.returncode, done.stdout + done.stderr
