"""`python -m billing [serve] --port 8082` runs the tenant API; `python -m billing close-periods [--now ISO]` invoices.

The admin listener (plans, subscriptions, Stripe webhooks) is `python -m billing.admin --port 8086`; the
meter `python -m billing.meter`.
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
from aiaas.serve import Command, run_service
from billing.config import BillingAdminSettings
from billing.invoices.service import check_close_instant, close_due_periods
from billing.plans.service import CatalogueCache


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


def _close_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--now", type=_instant, default=None, help="ISO-8601 instant to close at (default: now)")


def _close_periods(args: argparse.Namespace) -> int:
    # Finding due periods reads every tenant's subscriptions: the one command here given platform_admin.
    settings = BillingAdminSettings(service_name="billing-close")
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    now: datetime = args.now or clock.now()
    try:
        check_close_instant(now)
    except BadRequest as exc:
        print(f"python -m billing close-periods: error: {exc.message}", file=sys.stderr)
        return 2
    closed = asyncio.run(_close(settings, now))
    print(json.dumps({"now": now.isoformat(), "closed": closed}))
    return 0


CLOSE_PERIODS = Command(
    "close-periods", "invoice every subscription period that has ended", _close_periods, _close_arguments
)


def main(argv: list[str] | None = None) -> int:
    return run_service("python -m billing", "billing.app:create_app", port=8082, commands=[CLOSE_PERIODS], argv=argv)


if __name__ == "__main__":
    sys.exit(main())
