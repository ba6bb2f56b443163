"""Print a pyproject's [project] dependencies for `pip install -r`, the workspace's own packages left out.

deploy/Dockerfile installs them before copying any source, so a code change reuses the dependency layers.
"""

from __future__ import annotations

import re
import sys
import tomllib

# Installed from their directories (`pip install --no-deps`), never from an index.
WORKSPACE = frozenset({"aiaas", "aiaas-embedder"})


def requirements(pyproject: str) -> list[str]:
    with open(pyproject, "rb") as file:
        project = tomllib.load(file)["project"]
    deps = project.get("dependencies", [])
    return [dep for dep in deps if re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0].lower() not in WORKSPACE]


if __name__ == "__main__":
    print("\n".join(dep for path in sys.argv[1:] for dep in requirements(path)))
