"""`python -m ingestion [serve] [--host H] [--port P]` runs the ingestion API (`/v1/ingestion`, port 8095)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aiaas.serve import run_service
from ingestion.config import IngestionSettings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service("python -m ingestion", "ingestion.app:create_app", port=IngestionSettings().port, argv=argv)
    return code


if __name__ == "__main__":
    sys.exit(main())
