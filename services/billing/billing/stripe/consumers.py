"""`python -m billing.stripe.consumers`: mirror metered usage and finalized invoices into Stripe.

Reads the durable consumer `billing-stripe-sync` (stream BILLING, `billing.>`):

- `billing.usage.metered` -> one meter event on the `aiaas_tokens` meter, value =
  tokens_in + tokens_out, `identifier` = the usage's source event id, Idempotency-Key =
  the envelope id. Stripe refuses a repeated identifier; that refusal means "already sent".
- `billing.invoice.finalized` -> a draft Stripe invoice, one invoice item per line (plus a
  negative item for credits applied and one for tax, so Stripe's total equals ours), then
  finalize with auto_advance so Stripe collects. Every write's Idempotency-Key derives from
  the invoice id (and line index). The mapping is stored as soon as the Stripe invoice
  exists, so an interrupted sync resumes on that invoice, skipping the lines already on it.
- any other `billing.*` event is acknowledged and ignored.

Each tenant gets one Stripe customer (table `stripe_customers`, created with an
Idempotency-Key derived from the tenant id). Transient Stripe failures are retried
(`billing.stripe.client`); a batch that still fails is redelivered by JetStream and, after
`max_deliveries`, dead-lettered. Without STRIPE_API_KEY the worker logs that the sync is
disabled and idles (serving only its metrics listener), leaving events in the stream for
when it is configured.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Literal

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stripe.params import (
    CustomerCreateParams,
    InvoiceCreateParams,
    InvoiceFinalizeInvoiceParams,
    InvoiceItemCreateParams,
)
from stripe.params.billing import MeterCreateParams, MeterEventCreateParams, MeterListParams

from aiaas.db import tenant_session
from aiaas.events import CONSUMERS, ConsumerRunner, EventEnvelope, Received
from aiaas.events.schemas import INVOICE_FINALIZED, USAGE_METERED, InvoiceFinalized, UsageMetered
from aiaas.observability.metrics import serve_metrics
from aiaas.worker import WorkerContext, run_consumer_worker, run_worker
from billing.stripe import repository
from billing.stripe.client import StripeApi
from billing.stripe.config import StripeSettings
from billing.stripe.rules import InvoiceItem, invoice_items, meter_value

__all__ = ["Outcome", "StripeSync", "main"]

log = logging.getLogger(__name__)

Outcome = Literal["sent", "duplicate", "skipped", "synced", "already_synced", "ignored"]
_CONSUMER = CONSUMERS["billing-stripe-sync"]


class StripeSync:
    """Turns billing events into idempotent Stripe writes."""

    def __init__(self, api: StripeApi, sessions: async_sessionmaker[AsyncSession], *, meter_event_name: str) -> None:
        self._api = api
        self._stripe = api.client.v1
        self._sessions = sessions
        self._event_name = meter_event_name
        self._customers: dict[uuid.UUID, str] = {}
        self.meter_id: str | None = None

    async def ensure_meter(self) -> str:
        """Find the active meter for our event name, or create it (idempotently)."""
        meter = await self._find_meter()
        if meter is None:
            params: MeterCreateParams = {
                "display_name": "AI platform tokens",
                "event_name": self._event_name,
                "default_aggregation": {"formula": "sum"},
                "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
                "value_settings": {"event_payload_key": "value"},
            }
            try:
                meter = await self._api.call(
                    lambda: self._stripe.billing.meters.create_async(
                        params=params, options={"idempotency_key": f"aiaas-meter-{self._event_name}"}
                    ),
                    "create meter",
                )
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_already_exists":
                    raise
                meter = await self._find_meter()  # another worker created it first
                if meter is None:
                    raise
        self.meter_id = meter.id
        log.info("stripe meter ready", extra={"meter": meter.id, "event_name": self._event_name})
        return meter.id

    async def _find_meter(self) -> stripe.billing.Meter | None:
        params: MeterListParams = {"status": "active", "limit": 100}
        page = await self._api.call(lambda: self._stripe.billing.meters.list_async(params=params), "list meters")
        async for meter in page.auto_paging_iter():
            if meter.event_name == self._event_name:
                return meter
        return None

    async def handle(self, batch: Sequence[Received]) -> None:
        """ConsumerRunner handler: sync each event in order; raising makes JetStream redeliver."""
        for item in batch:
            outcome = await self.sync_event(item.event)
            log.info(
                "stripe sync",
                extra={"event_id": str(item.event.id), "type": item.event.type, "outcome": outcome},
            )

    async def sync_event(self, event: EventEnvelope) -> Outcome:
        if event.type == USAGE_METERED:
            return await self._usage(event, UsageMetered.model_validate(event.data))
        if event.type == INVOICE_FINALIZED:
            return await self._invoice(event.tenant_id, InvoiceFinalized.model_validate(event.data))
        return "ignored"

    async def _customer(self, tenant_id: uuid.UUID) -> str:
        """The tenant's Stripe customer, created on first need."""
        cached = self._customers.get(tenant_id)
        if cached is not None:
            return cached
        async with tenant_session(self._sessions, tenant_id) as session:
            stored = await repository.customer_id(session, tenant_id)
            tenant = await repository.tenant_name(session, tenant_id)
        if stored is None:
            params: CustomerCreateParams = {"metadata": {"tenant_id": str(tenant_id)}}
            if tenant is not None:
                params["name"] = tenant.name
                params["metadata"] = {"tenant_id": str(tenant_id), "tenant_slug": tenant.slug}
            customer = await self._api.call(
                lambda: self._stripe.customers.create_async(
                    params=params, options={"idempotency_key": f"aiaas-customer-{tenant_id}"}
                ),
                "create customer",
            )
            async with tenant_session(self._sessions, tenant_id) as session:
                stored = await repository.insert_customer(session, tenant_id, customer.id)
        self._customers[tenant_id] = stored
        return stored

    async def _usage(self, event: EventEnvelope, usage: UsageMetered) -> Outcome:
        value = meter_value(usage)
        if value == 0:
            return "skipped"
        customer = await self._customer(event.tenant_id)
        params: MeterEventCreateParams = {
            "event_name": self._event_name,
            "payload": {"stripe_customer_id": customer, "value": str(value)},
            "identifier": str(usage.source_event_id),
            "timestamp": int(event.occurred_at.timestamp()),
        }
        try:
            await self._api.call(
                lambda: self._stripe.billing.meter_events.create_async(
                    params=params, options={"idempotency_key": str(event.id)}
                ),
                "create meter event",
            )
        except stripe.InvalidRequestError as exc:
            # Past the idempotency window a resend reaches Stripe's identifier check instead.
            if exc.code == "resource_already_exists" and exc.param == "identifier":
                return "duplicate"
            raise
        return "sent"

    async def _invoice(self, tenant_id: uuid.UUID, invoice: InvoiceFinalized) -> Outcome:
        async with tenant_session(self._sessions, tenant_id) as session:
            row = await repository.stripe_invoice(session, invoice.invoice_id)
        if row is not None and row.synced_at is not None:
            return "already_synced"
        customer = await self._customer(tenant_id)
        key = f"aiaas-invoice-{invoice.invoice_id}"
        present: set[str] = set()
        if row is None:
            params: InvoiceCreateParams = {
                "customer": customer,
                "currency": invoice.currency,
                "auto_advance": False,  # no automatic finalization while lines are being added
                "collection_method": "charge_automatically",
                "pending_invoice_items_behavior": "exclude",
                "description": f"AI platform usage {invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}",
                "metadata": {
                    "aiaas_invoice_id": str(invoice.invoice_id),
                    "tenant_id": str(tenant_id),
                    "period_start": invoice.period_start.isoformat(),
                    "period_end": invoice.period_end.isoformat(),
                },
            }
            created = await self._api.call(
                lambda: self._stripe.invoices.create_async(params=params, options={"idempotency_key": key}),
                "create invoice",
            )
            async with tenant_session(self._sessions, tenant_id) as session:
                row = await repository.insert_invoice(session, invoice.invoice_id, tenant_id, created.id)
        else:
            stripe_invoice_id = row.stripe_invoice_id
            draft = await self._api.call(lambda: self._stripe.invoices.retrieve_async(stripe_invoice_id), "get invoice")
            if draft.status != "draft":
                await self._mark_synced(tenant_id, invoice.invoice_id)
                return "synced"
            present = await self._lines_present(stripe_invoice_id)
        stripe_id = row.stripe_invoice_id
        for index, item in enumerate(invoice_items(invoice)):
            if str(index) not in present:
                await self._add_item(customer, stripe_id, invoice, index, item, f"{key}-line-{index}")
        finalize: InvoiceFinalizeInvoiceParams = {"auto_advance": True}
        final = await self._api.call(
            lambda: self._stripe.invoices.finalize_invoice_async(
                stripe_id, params=finalize, options={"idempotency_key": f"{key}-finalize"}
            ),
            "finalize invoice",
        )
        if final.total != invoice.total_minor:
            log.error(
                "stripe invoice total differs from ours",
                extra={
                    "invoice_id": str(invoice.invoice_id),
                    "stripe_total": final.total,
                    "total": invoice.total_minor,
                },
            )
        await self._mark_synced(tenant_id, invoice.invoice_id)
        return "synced"

    async def _add_item(
        self, customer: str, stripe_id: str, invoice: InvoiceFinalized, index: int, item: InvoiceItem, key: str
    ) -> None:
        """One invoice item on the draft, tagged with its line index (`aiaas_line`) for a resumed sync."""
        params: InvoiceItemCreateParams = {
            "customer": customer,
            "invoice": stripe_id,
            "currency": invoice.currency,
            "amount": item.amount_minor,
            "description": item.description,
            "metadata": {**item.metadata, "aiaas_invoice_id": str(invoice.invoice_id), "aiaas_line": str(index)},
        }
        await self._api.call(
            lambda: self._stripe.invoice_items.create_async(params=params, options={"idempotency_key": key}),
            "create invoice item",
        )

    async def _lines_present(self, stripe_invoice_id: str) -> set[str]:
        """`aiaas_line` indexes already on a draft (a resumed sync skips them)."""
        page = await self._api.call(
            lambda: self._stripe.invoices.line_items.list_async(stripe_invoice_id, params={"limit": 100}),
            "list invoice lines",
        )
        present: set[str] = set()
        async for line in page.auto_paging_iter():
            index = line.metadata.to_dict().get("aiaas_line") if line.metadata else None
            if index is not None:
                present.add(str(index))
        return present

    async def _mark_synced(self, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> None:
        async with tenant_session(self._sessions, tenant_id) as session:
            await repository.mark_invoice_synced(session, invoice_id)


async def _sync(settings: StripeSettings, worker: WorkerContext) -> None:
    """The worker's body: ensure the meter (retrying until Stripe answers), then consume until stopped."""
    logging.getLogger("stripe").setLevel(logging.WARNING)  # the SDK logs every request at INFO
    api = StripeApi(settings)
    try:
        sync = StripeSync(api, worker.sessions, meter_event_name=settings.meter_event_name)
        while not worker.stop.is_set():
            try:
                await sync.ensure_meter()
                break
            except stripe.StripeError as exc:
                log.warning("stripe meter not ready, retrying", extra={"error": repr(exc)[:300]})
                try:
                    await asyncio.wait_for(worker.stop.wait(), timeout=2.0)
                except TimeoutError:
                    continue
        if worker.stop.is_set():
            return
        log.info("stripe sync started", extra={"api_base": settings.api_base, "consumer": _CONSUMER.durable})
        await ConsumerRunner(worker.js, _CONSUMER, sync.handle, batch_size=settings.batch_size).run(worker.stop)
    finally:
        await api.close()


async def _disabled(stop: asyncio.Event) -> None:
    log.warning("STRIPE_API_KEY is not set: the Stripe sync is disabled; events stay in the stream")
    await stop.wait()


def main() -> None:
    settings = StripeSettings()
    if not settings.api_key:
        # Disabled: no database or NATS connection, only the listener its container health check reaches.
        serve_metrics(settings.metrics_port, settings.metrics_host)
        run_worker(settings, _disabled)
        return
    run_consumer_worker(
        settings,
        lambda worker: _sync(settings, worker),
        database_url=settings.database_url,
        consumers=(_CONSUMER.durable,),
        # STRIPE_METRICS_PORT/HOST: a listener its container health check and a scraper can reach.
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    )


if __name__ == "__main__":
    main()
