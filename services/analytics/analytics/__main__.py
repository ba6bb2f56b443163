"""`python -m analytics [serve] [--host H] [--port P]` runs the tenant KPI API; `python -m analytics rebuild` rebuilds.

The admin listener (KPIs across tenants) is `python -m analytics.admin --port 8087`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiaas.observability.logging import configure_logging
from aiaas.service_app import serve
from analytics.config import AnalyticsAdminSettings, AnalyticsSettings

__all__ = ["main"]


def _serve(host: str, port: int) -> int:
    serve("analytics.app:create_app", host=host, port=port)
    return 0


def _rebuild(allow_partial: bool) -> int:
    from analytics.rollups.rebuild import RebuildError, rebuild

    # Truncating and replaying the read models covers every tenant: the one command here given platform_admin.
    settings = AnalyticsAdminSettings(service_name="analytics-rebuild")
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    try:
        result = asyncio.run(rebuild(settings, allow_partial=allow_partial))
    except RebuildError as exc:
        print(f"rebuild failed: {exc}", file=sys.stderr)
        return 1
    print(f"rebuilt: replayed up to stream sequences {result.targets}; events applied {result.applied}")
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = AnalyticsSettings()
    parser = argparse.ArgumentParser(prog="python -m analytics")
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="run the KPI API (the default)")
    rebuild = sub.add_parser("rebuild", help="truncate the read models and replay USAGE and BILLING into them")
    rebuild.add_argument("--allow-partial", action="store_true", help="rebuild even if old events expired")
    for p in (parser, serve_cmd):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=settings.port)
    args = parser.parse_args(argv)
    if args.command == "rebuild":
        return _rebuild(args.allow_partial)
    return _serve(args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
