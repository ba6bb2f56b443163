"""`python -m analytics [serve] [--host H] [--port P]` runs the tenant KPI API; `python -m analytics rebuild` rebuilds.

The admin listener (KPIs across tenants) is `python -m analytics.admin --port 8087`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from aiaas.observability.logging import configure_logging
from aiaas.serve import Command, run_service
from analytics.config import AnalyticsAdminSettings, AnalyticsSettings

__all__ = ["main"]


def _rebuild(args: argparse.Namespace) -> int:
    from analytics.rollups.rebuild import RebuildError, rebuild

    # Truncating and replaying the read models covers every tenant: the one command here given platform_admin.
    settings = AnalyticsAdminSettings(service_name="analytics-rebuild")
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    try:
        result = asyncio.run(rebuild(settings, allow_partial=args.allow_partial))
    except RebuildError as exc:
        print(f"rebuild failed: {exc}", file=sys.stderr)
        return 1
    print(f"rebuilt: replayed up to stream sequences {result.targets}; events applied {result.applied}")
    return 0


def _rebuild_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-partial", action="store_true", help="rebuild even if old events expired")


REBUILD = Command(
    "rebuild",
    "truncate the read models and replay USAGE and BILLING into them",
    _rebuild,
    _rebuild_arguments,
)


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service(
        "python -m analytics",
        "analytics.app:create_app",
        port=AnalyticsSettings().port,
        commands=[REBUILD],
        argv=argv,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
