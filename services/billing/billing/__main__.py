"""`python -m billing [serve] --port 8082` runs the tenant API; `python -m billing close-periods [--now ISO]` invoices.

The admin listener (plans, subscriptions, Stripe webhooks) is `python -m billing.admin --port 8086`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

from aiaas import clock
from aiaas.db import create_engine, session_factory
from aiaas.errors import BadRequest
from aiaas.observability.logging import configure_logging
from aiaas.service_app import serve
from billing.catalogue import CatalogueCache
from billing.config import BillingAdminSettings
from billing.invoicing import check_close_instant, close_due_periods


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs a UTC offset, e.g. 2026-12-01T00:00:00Z")
    return moment.astimezone(UTC)


async def _close(settings: BillingAdminSettings, now: datetime) -> dict[str, list[str]]:
    engine = create_engine(settings.database_url, pool_size=2, application_name="billing-close")
    admin_engine = create_engine(settings.admin_database_url, pool_size=2, application_name="billing-close-admin")
    try:
        sessions = session_factory(engine)
        catalogue = await CatalogueCache(sessions).get()
        closed = await close_due_periods(session_factory(admin_engine), sessions, catalogue, now, settings.tax_rate)
    finally:
        await engine.dispose()
        await admin_engine.dispose()
    return {str(tenant): [str(i) for i in invoices] for tenant, invoices in closed.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m billing")
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="run the HTTP API (the default)")
    close = sub.add_parser("close-periods", help="invoice every subscription period that has ended")
    close.add_argument("--now", type=_instant, default=None, help="ISO-8601 instant to close at (default: now)")
    for target in (parser, serve_cmd):
        target.add_argument("--host", default="127.0.0.1")
        target.add_argument("--port", type=int, default=8082)
    args = parser.parse_args(argv)
    if args.command == "close-periods":
        # Finding due periods reads every tenant's subscriptions: the one command here given platform_admin.
        settings = BillingAdminSettings(service_name="billing-close")
        configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
        now = args.now or clock.now()
        try:
            check_close_instant(now)
        except BadRequest as exc:
            parser.error(exc.message)
        closed = asyncio.run(_close(settings, now))
        print(json.dumps({"now": now.isoformat(), "closed": closed}))
        return 0
    serve("billing.app:create_app", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
