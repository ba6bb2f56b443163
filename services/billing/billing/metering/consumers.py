"""The meter process (started by `python -m billing.meter`): the usage consumer and the loops beside it.

Runs, in one event loop: the durable consumer "billing-meter" (usage.recorded -> ledger, counters,
credits, outbox; then the batch's tenants' quota state to Redis), the outbox relay that publishes
billing's events, the quota alert deliverer, and a timer re-publishing every subscribed tenant's quota
state and plan code (at start, every BILLING_RECONCILE_INTERVAL_S, and at once when Redis lost them: it
looks for `aiaas.quota.PUBLISHED_KEY` every BILLING_QUOTA_WATCH_INTERVAL_S). Plan codes go to the
`tenant_plans` KV bucket over the consumer's own NATS connection, only where they changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats
import redis.asyncio as redis_asyncio

from aiaas import clock
from aiaas.db import create_engine, session_factory
from aiaas.egress import public_session
from aiaas.events import CONSUMERS, ConsumerRunner, EventPublisher, OutboxRelay, Received, ensure_topology
from aiaas.events.topology import ConsumerSpec, ensure_consumer
from aiaas.flags.plans import TenantPlanPublisher
from aiaas.resilience import RetryPolicy
from billing.alerts.delivery import AlertDeliverer
from billing.config import BillingAdminSettings, BillingSettings
from billing.metering.quota import QuotaPublisher, reconcile_loop
from billing.metering.service import meter_batch
from billing.plans.service import CatalogueCache

__all__ = ["consumer_spec", "run"]


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
            reconcile_loop(
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
