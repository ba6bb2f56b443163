"""Print a pyproject's [project] dependencies for `pip install -r`, the workspace's own packages left out.

deploy/Dockerfile installs them before copying any source, so a code change reuses the dependency layers. A
workspace package named with extras (`aiaas[checkpoints]`) is installed from source too, but its extras'
dependencies come from an index: they are printed in its place (read from the package's own pyproject, which the
Dockerfile copies first).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# Installed from their directories (`pip install --no-deps`), never from an index.
WORKSPACE = {"aiaas": "libs/aiaas/pyproject.toml", "aiaas-embedder": "libs/aiaas-embedder/pyproject.toml"}
_NAME = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?")


def _workspace_file(relative: str) -> Path:
    """The workspace package's pyproject: under the working directory (the image build), else this repo's root."""
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if (root / relative).is_file():
            return root / relative
    raise FileNotFoundError(relative)


def _extras(name: str, extras: str) -> list[str]:
    with open(_workspace_file(WORKSPACE[name]), "rb") as file:
        optional = tomllib.load(file)["project"].get("optional-dependencies", {})
    return [dep for extra in extras.split(",") if extra.strip() for dep in optional[extra.strip()]]


def requirements(pyproject: str) -> list[str]:
    with open(pyproject, "rb") as file:
        project = tomllib.load(file)["project"]
    found: list[str] = []
    for dep in project.get("dependencies", []):
        match = _NAME.match(dep)
        name = match.group(1).lower() if match else dep
        if name not in WORKSPACE:
            found.append(dep)
        elif match and match.group(2):
            found.extend(d for d in _extras(name, match.group(2)) if d not in found)
    return found


if __name__ == "__main__":
    print("\n".join(dep for path in sys.argv[1:] for dep in requirements(path)))
