"""`python -m billing.stripe.consumers` as a real process on JetStream: replays reach Stripe once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2
import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas.events import CONSUMERS, EventEnvelope, EventPublisher, ensure_topology
from aiaas_testing import NatsServer, ServiceProcess, TenantWithKey


async def test_worker_syncs_events_once_despite_replays(
    private_nats: NatsServer,
    stripe_sim_url: str,
    sim_control: httpx2.AsyncClient,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    runtime_sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    metered_event: Callable[..., EventEnvelope],
    finalized_event: Callable[..., EventEnvelope],
    eventually: Callable[..., Awaitable[None]],
    stripe_key: str,
) -> None:
    tenant = await make_tenant()
    invoice_id = uuid.uuid4()
    usage = [metered_event(tenant.id, 1000, 200), metered_event(tenant.id, 40, 2)]
    invoice = finalized_event(tenant.id, invoice_id)
    nc = await nats.connect(private_nats.url)
    worker = ServiceProcess(
        ["-m", "billing.stripe.consumers"],
        env={
            "NATS_URL": private_nats.url,
            "STRIPE_API_KEY": stripe_key,
            "STRIPE_API_BASE": stripe_sim_url,
            "STRIPE_RETRY_BASE_DELAY_S": "0.01",
            "LOG_JSON": "false",
        },
        log_path=tmp_path / "stripe_sync.log",
    ).start()
    try:
        js = nc.jetstream()
        await ensure_topology(js, consumers=("billing-stripe-sync",))
        publisher = EventPublisher(js)
        for event in [*usage, invoice]:
            await publisher.publish(event)
        # A DLQ replay or an outbox re-relay outside the duplicate window: same envelope, new message id.
        for event in (usage[0], invoice):
            await publisher.publish_raw(event.subject, event.to_json(), {"Nats-Msg-Id": f"replay-{uuid.uuid4()}"})

        async def drained() -> bool:
            info = await js.consumer_info("BILLING", CONSUMERS["billing-stripe-sync"].durable)
            return info.num_pending == 0 and info.num_ack_pending == 0

        await eventually(drained, timeout_s=60)
        async with tenant_session(runtime_sessions, tenant.id) as session:
            customer = (
                await session.execute(
                    text("select stripe_customer_id from stripe_customers where tenant_id = :tid"), {"tid": tenant.id}
                )
            ).scalar_one()
            synced = (
                await session.execute(
                    text("select synced_at is not null from stripe_invoices where invoice_id = :iid"),
                    {"iid": invoice_id},
                )
            ).scalar_one()
        assert synced is True
        ledger = (await sim_control.get("/_sim/meter_events")).json()
        mine = [total for total in ledger["totals"] if total["customer"] == customer]
        assert [(total["value"], total["events"]) for total in mine] == [("1242", 2)]
        replayed = (await sim_control.get("/_sim/requests", params={"idempotency_key": str(usage[0].id)})).json()[
            "requests"
        ]
        assert [entry["replayed"] for entry in replayed] == [False, True]
        creates = (
            await sim_control.get("/_sim/requests", params={"idempotency_key": f"aiaas-invoice-{invoice_id}"})
        ).json()["requests"]
        assert len(creates) == 1  # the replayed finalized event found the mapping already synced
    finally:
        assert worker.stop() == 0, worker.tail()
        await nc.close()


async def test_worker_without_key_is_disabled(
    private_nats: NatsServer, tmp_path: Path, eventually: Callable[..., Awaitable[None]]
) -> None:
    worker = ServiceProcess(
        ["-m", "billing.stripe.consumers"],
        env={"NATS_URL": private_nats.url, "STRIPE_API_KEY": "", "LOG_JSON": "false"},
        log_path=tmp_path / "disabled.log",
    ).start()

    async def said_so() -> bool:
        return "Stripe sync is disabled" in worker.tail()

    try:
        await eventually(said_so, timeout_s=30)
    finally:
        assert worker.stop() == 0, worker.tail()
