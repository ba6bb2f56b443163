"""The meter process: `python -m billing.meter`.

Runs, in one event loop: the durable consumer "billing-meter" (usage.recorded -> ledger, counters,
credits, outbox; then the batch's tenants' quota state to Redis), the outbox relay that publishes
billing's events, the quota alert deliverer, and a timer re-publishing every subscribed tenant's quota
state and plan code (at start, every BILLING_RECONCILE_INTERVAL_S, and at once when Redis lost them: it
looks for `aiaas.quota.PUBLISHED_KEY` every BILLING_QUOTA_WATCH_INTERVAL_S). Plan codes go to the
`tenant_plans` KV bucket over the consumer's own NATS connection, only where they changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import nats
import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session, create_engine, session_factory
from aiaas.egress import public_session
from aiaas.events import CONSUMERS, ConsumerRunner, EventPublisher, OutboxRelay, Received, ensure_topology
from aiaas.events.topology import ConsumerSpec, ensure_consumer
from aiaas.flags.plans import TenantPlanPublisher
from aiaas.observability.metrics import serve_metrics
from aiaas.quota import PUBLISHED_KEY
from aiaas.resilience import RetryPolicy
from aiaas.worker import run_worker
from billing.alerts import AlertDeliverer
from billing.catalogue import CatalogueCache
from billing.config import BillingAdminSettings, BillingSettings
from billing.metering import meter_batch
from billing.quota_sync import QuotaPublisher, publish_tenant_quotas, read_tenant_quotas

__all__ = ["consumer_spec", "reconcile_all", "run", "main"]

log = logging.getLogger(__name__)


def consumer_spec(settings: BillingSettings) -> ConsumerSpec:
    """The platform's "billing-meter" consumer, unless settings point the meter elsewhere (benchmarks)."""
    spec = CONSUMERS["billing-meter"]
    if (settings.meter_stream, settings.meter_durable, settings.meter_filter_subject) == (
        spec.stream,
        spec.durable,
        spec.filter_subject,
    ):
        return spec
    return ConsumerSpec(settings.meter_stream, settings.meter_durable, settings.meter_filter_subject)


async def reconcile_all(
    admin_sessions: async_sessionmaker[AsyncSession],
    catalogue: CatalogueCache,
    redis: redis_asyncio.Redis,
    plans: TenantPlanPublisher,
) -> int:
    """Publish every subscribed tenant's quota state and plan code; returns how many states."""
    current = await catalogue.get()
    async with admin_session(admin_sessions) as session:
        quotas = await read_tenant_quotas(session, current)
    await publish_tenant_quotas(redis, plans, quotas, complete=True)
    return len(quotas.states)


async def _redis_lost_quotas(redis: redis_asyncio.Redis) -> bool:
    """True when Redis no longer holds the published quota states (it restarted empty or was flushed)."""
    try:
        return not await redis.exists(PUBLISHED_KEY)
    except (RedisError, OSError):
        return False  # unreachable: nothing can be published now; checked again on the next tick


async def _reconcile_loop(
    admin_sessions: async_sessionmaker[AsyncSession],
    catalogue: CatalogueCache,
    redis: redis_asyncio.Redis,
    plans: TenantPlanPublisher,
    interval_s: float,
    stop: asyncio.Event,
    watch_s: float = 0.25,
) -> None:
    """Every tenant's state every `interval_s`, and at once when Redis lost them (checked every `watch_s`)."""
    due = 0.0
    while not stop.is_set():
        if time.monotonic() >= due or await _redis_lost_quotas(redis):
            try:
                await reconcile_all(admin_sessions, catalogue, redis, plans)
            except (OSError, SQLAlchemyError) as exc:
                log.warning("quota reconcile failed", extra={"error": repr(exc)})
            due = time.monotonic() + interval_s
        try:
            await asyncio.wait_for(stop.wait(), timeout=min(watch_s, interval_s))
        except TimeoutError:
            continue


async def run(settings: BillingAdminSettings, stop: asyncio.Event) -> None:
    engine = create_engine(
        settings.database_url,
        pool_size=settings.meter_concurrency * settings.meter_runners,
        application_name="billing-meter",
    )
    # Metering itself runs as app_runtime, one tenant transaction per tenant of a batch (meter_batch). The
    # platform_admin engine is only for reads that must see every tenant: the quota reconcile sweep, the plan
    # codes of tenants the plan bucket has not seen (one query per batch), claiming due alert deliveries (one
    # queue across tenants; each outcome is then written as app_runtime under its tenant) and the outbox relay
    # (every tenant's pending rows).
    admin_engine = create_engine(settings.admin_database_url, pool_size=4, application_name="billing-meter-admin")
    nc = await nats.connect(settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name="billing-meter")
    redis = redis_asyncio.Redis.from_url(settings.redis_url)
    http = public_session(allow_internal=settings.alert_allow_internal_urls)
    plans = TenantPlanPublisher(nc, name="billing-meter")
    try:
        await plans.start()
        js = nc.jetstream()
        await ensure_topology(js, consumers=())
        spec = consumer_spec(settings)
        await ensure_consumer(js, spec)
        sessions = session_factory(engine)
        admin_sessions = session_factory(admin_engine)
        catalogue = CatalogueCache(sessions, settings.catalogue_ttl_s)
        quota = QuotaPublisher(redis, plans, admin_sessions)

        async def handle(batch: Sequence[Received]) -> None:
            states = await meter_batch(sessions, catalogue, batch, clock.now(), concurrency=settings.meter_concurrency)
            quota.submit(states)  # after commit: Redis never runs ahead of Postgres

        # Several runners on the same durable overlap one batch's database round trips with the next
        # batch's fetching and parsing; the subscription row lock keeps each tenant's metering serial.
        runners = [
            ConsumerRunner(
                js, spec, handle, batch_size=settings.meter_batch_size, fetch_timeout_s=settings.meter_fetch_timeout_s
            )
            for _ in range(settings.meter_runners)
        ]
        deliverer = AlertDeliverer(
            admin_sessions,
            sessions,
            http,
            policy=RetryPolicy(
                max_attempts=settings.alert_max_attempts,
                base_delay=settings.alert_base_delay_s,
                max_delay=settings.alert_max_delay_s,
                jitter="equal",
            ),
            timeout_s=settings.alert_timeout_s,
            poll_s=settings.alert_poll_s,
            allow_internal=settings.alert_allow_internal_urls,
        )
        tasks = [
            *(runner.run(stop) for runner in runners),
            quota.run(stop),
            deliverer.run(stop),
            _reconcile_loop(
                admin_sessions,
                catalogue,
                redis,
                plans,
                settings.reconcile_interval_s,
                stop,
                settings.quota_watch_interval_s,
            ),
        ]
        if settings.run_outbox_relay:
            tasks.append(OutboxRelay(admin_sessions, EventPublisher(js)).run(stop))
        await asyncio.gather(*tasks)
    finally:
        await plans.close()
        await http.close()
        await redis.aclose()
        # Everything handled is acked already: close without waiting on the drain timeout.
        await nc.close()
        await engine.dispose()
        await admin_engine.dispose()


def main() -> None:
    settings = BillingAdminSettings(service_name="billing-meter")
    serve_metrics(settings.meter_metrics_port, settings.metrics_host)
    run_worker(settings, lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
