"""`python -m toolbox --host 127.0.0.1 --port 8094`: the business-systems sandbox (TOOLBOX_*)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aiaas.standin import run_standin
from toolbox.config import Settings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve; `--log-level` and `--access-log` override the settings."""
    return run_standin("toolbox", "toolbox.app:create_app", Settings(), argv)


if __name__ == "__main__":
    sys.exit(main())
