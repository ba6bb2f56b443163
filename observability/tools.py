"""Installs Debian's pinned Prometheus and Alertmanager (promtool, amtool) into .local/tools/prometheus, idempotently.

Why Debian's packages: they are the tested builds of promtool and amtool, fetched with the system's own
client (`apt-get download`, no root needed) and unpacked with `dpkg -x` into a git-ignored folder, so
nothing is installed system-wide. A stamp records the pinned versions: a second run does nothing.

    python observability/tools.py            install when missing, print where
    python observability/tools.py --check    exit 1 when missing (nothing installed)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / ".local" / "tools" / "prometheus"
# Debian bookworm's versions; `apt-get download` fails loudly if the mirror no longer has them.
PINS = ("prometheus=2.42.0+ds-5+deb12u1", "prometheus-alertmanager=0.25.0-1+b4")
_STAMP = TARGET / ".pins.json"


def bin_path(name: str) -> Path:
    """Where `promtool`, `amtool`, `prometheus` or `prometheus-alertmanager` lands."""
    return TARGET / "usr" / "bin" / name


def installed() -> bool:
    return _STAMP.is_file() and json.loads(_STAMP.read_text()) == list(PINS) and bin_path("promtool").is_file()


def install() -> bool:
    """Download and unpack the pinned packages; False (apt's message on stderr) when that fails."""
    if installed():
        return True
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        print("apt-get and dpkg are needed to fetch Debian's prometheus packages", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["apt-get", "download", *PINS], cwd=tmp, check=False)  # noqa: S603, S607 - the system's apt
        if done.returncode != 0:
            return False
        if TARGET.exists():
            shutil.rmtree(TARGET)
        TARGET.mkdir(parents=True)
        for deb in sorted(Path(tmp).glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(TARGET)], check=True)  # noqa: S603, S607 - the system's dpkg
    _STAMP.write_text(json.dumps(list(PINS)))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the tools are there")
    args = parser.parse_args(argv)
    ok = installed() if args.check else install()
    print(f"prometheus tools: {'ok' if ok else 'MISSING'} ({TARGET.relative_to(ROOT)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
