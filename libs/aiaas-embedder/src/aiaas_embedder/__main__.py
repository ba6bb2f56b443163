"""`python -m aiaas_embedder build [CACHE_DIR]`: quantize the int8 variant ahead of time (image builds)."""

from __future__ import annotations

import sys
from pathlib import Path

from aiaas_embedder.model import build_int8


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "build" or len(argv) > 2:
        print("usage: python -m aiaas_embedder build [CACHE_DIR]", file=sys.stderr)
        return 2
    print(build_int8(Path(argv[1]) if len(argv) == 2 else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
