"""`python -m control_plane [serve] --port 8084` runs the API; `python -m control_plane flags ...` is the CLI."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aiaas.serve import Command, run_service
from control_plane.cli import add_flags_arguments, run_flags_command

FLAGS = Command("flags", "manage feature flags through the control-plane API", run_flags_command, add_flags_arguments)


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service(
        "python -m control_plane", "control_plane.app:create_app", port=8084, commands=[FLAGS], argv=argv
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
