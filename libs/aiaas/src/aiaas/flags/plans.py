"""Tenants' plan codes in the JetStream KV bucket `tenant_plans`: how every service learns a tenant's plan.

Key = tenant id (lower-case UUID text), value = plan code (UTF-8). Billing owns plans and writes them with
`TenantPlanPublisher`; every `FlagClient` mirrors the bucket to apply plan overrides. A tenant without an
entry has no plan as far as flags go: plan overrides do not apply to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from prometheus_client import Counter

from aiaas.flags.kv import KvMirror, connect_for_mirrors, ensure_bucket
from aiaas.flags.model import TENANT_PLANS_BUCKET
from aiaas.tasks import stop_tasks

__all__ = ["TenantPlanPublisher", "tenant_key", "parse_plan"]

_log = logging.getLogger(__name__)

PLAN_WRITES = Counter("tenant_plan_writes_total", "Tenant plan codes written to KV, by result", ["result"])


def tenant_key(tenant_id: uuid.UUID | str) -> str:
    """The bucket key of a tenant: its id as lower-case text (what `FlagClient` looks up)."""
    return str(tenant_id).lower()


def parse_plan(value: bytes) -> str:
    """A plan code from its KV value; raises ValueError for an empty or non-UTF-8 value."""
    code = value.decode()
    if not code:
        raise ValueError("empty plan code")
    return code


class TenantPlanPublisher:
    """Writes tenants' plan codes to the bucket, only where the bucket holds another value.

    It mirrors the bucket (a `KvMirror`), so the comparison is against what the bucket actually holds,
    whichever process wrote it: publishing the same plans again, from the API or the meter, or after a
    restart, writes nothing. `publish` never raises: with NATS down it logs, returns False and leaves the
    mirror as it was, so the caller's next publish (billing's timer sweep) writes the change.

    `nats_source` is a URL (the publisher owns its connection, connected in the background) or a
    connection the caller already has, owns and closes (the meter shares its consumer's).
    """

    def __init__(
        self,
        nats_source: str | NatsClient,
        *,
        bucket: str = TENANT_PLANS_BUCKET,
        name: str = "tenant-plans",
        timeout_s: float = 2.0,
        retry_s: float = 0.5,
        batch: int = 256,
    ) -> None:
        self._url = nats_source if isinstance(nats_source, str) else None
        self._nc: NatsClient | None = None if isinstance(nats_source, str) else nats_source
        self._bucket = bucket
        self._name = name
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._batch = batch
        self._kv: KeyValue | None = None
        self._mirror: KvMirror[str] = KvMirror(
            bucket, parse_plan, opener=self._open, copy_on_write=False, retry_s=retry_s
        )
        self._task: asyncio.Task[None] | None = None

    # ---- reads ---------------------------------------------------------------------------
    def plan_of(self, tenant_id: uuid.UUID | str) -> str | None:
        """The plan code the bucket holds for the tenant (as far as the mirror knows)."""
        return self._mirror.data.get(tenant_key(tenant_id))

    @property
    def live(self) -> bool:
        """Connected, with the bucket loaded and watched: `plan_of` reflects the bucket."""
        return self._nc is not None and self._nc.is_connected and self._mirror.live

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self, start_timeout_s: float = 2.0) -> TenantPlanPublisher:
        """Connect, create the bucket if missing and load it, waiting at most `start_timeout_s`."""
        self._task = asyncio.create_task(self._mirror.run(self._connect), name=f"{self._name}-watch")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._mirror.loaded.wait(), start_timeout_s)
        return self

    async def close(self) -> None:
        await stop_tasks(self._task)
        if self._url is not None and self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.close()

    async def _open(self, js: JetStreamContext) -> KeyValue:
        self._kv = await ensure_bucket(js, self._bucket, history=1, description="tenant plan codes (billing)")
        return self._kv

    async def _connect(self) -> NatsClient:
        if self._nc is not None and (self._url is None or not self._nc.is_closed):
            return self._nc
        assert self._url is not None  # a borrowed connection returned above

        self._nc = await connect_for_mirrors(
            self._url, name=self._name, retry_s=self._retry_s, mirrors=lambda: (self._mirror,)
        )
        return self._nc

    # ---- writes --------------------------------------------------------------------------
    async def publish(self, plans: Mapping[uuid.UUID, str] | Mapping[str, str]) -> bool:
        """Write the plans that differ from the bucket's; True when the bucket now holds all of them."""
        wanted = {tenant_key(tenant): code for tenant, code in plans.items()}
        changed = [(key, code) for key, code in wanted.items() if self._mirror.data.get(key) != code]
        if not changed:
            return True
        nc = self._nc
        if nc is None or not nc.is_connected:
            PLAN_WRITES.labels("skipped").inc(len(changed))
            _log.warning("tenant plans not published: NATS not connected", extra={"tenants": len(changed)})
            return False
        written = 0
        try:
            kv = self._kv
            if kv is None:  # the watch has not bound the bucket yet (or lost it): bind or create it now
                kv = await asyncio.wait_for(self._open(nc.jetstream()), self._timeout_s)
            for start in range(0, len(changed), self._batch):
                written += await self._put_batch(kv, changed[start : start + self._batch])
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            # The bucket may be gone (deleted, a new server): bind or create it again next time, and reload.
            self._kv = None
            self._mirror.resync()
            PLAN_WRITES.labels("failed").inc(len(changed) - written)
            _log.warning("tenant plans not published", extra={"error": repr(exc), "tenants": len(changed) - written})
            return False
        PLAN_WRITES.labels("written").inc(written)
        return True

    async def _put_batch(self, kv: KeyValue, batch: list[tuple[str, str]]) -> int:
        """Put a batch concurrently (one round trip's latency, not one per key); records each new revision.

        The puts that succeeded are recorded even when another failed, so a retry rewrites only the rest.
        """
        async with asyncio.timeout(self._timeout_s):
            results = await asyncio.gather(*(kv.put(key, code.encode()) for key, code in batch), return_exceptions=True)
        failure: BaseException | None = None
        for (key, code), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
            else:
                self._mirror.set_local(key, code, result)
        if failure is not None:
            raise failure
        return len(batch)
