"""`FlagClient`: the live, in-process copy of the control plane's flags bucket every service reads.

It loads the JetStream KV bucket (one JSON document per flag, `Flag.to_json()`), then watches it and swaps
flags in its in-memory dict as they change; reads are dict lookups, never I/O, never raise. It mirrors the
`tenant_plans` bucket (billing's tenant -> plan code) the same way, so a read without `plan=` applies the
tenant's plan override: call sites pass only the tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import orjson
from nats.aio.client import Client as NatsClient
from prometheus_client import Gauge

from aiaas.flags.kv import KvMirror, connect_for_mirrors
from aiaas.flags.model import FLAGS_BUCKET, TENANT_PLANS_BUCKET, Flag, FlagValue, evaluate
from aiaas.flags.plans import parse_plan, tenant_key
from aiaas.tasks import stop_tasks

__all__ = ["FlagClient"]


FLAG_CACHE_AGE = Gauge(
    "flag_cache_age_seconds", "Seconds the flag cache has been without a live watch (0 = live)", ["bucket"]
)


def _parse_flag(value: bytes) -> Flag:
    return Flag.from_json(orjson.loads(value))


def _not_older(current: Flag, new: Flag) -> bool:
    """A replayed older document never replaces a newer one."""
    return new.version >= current.version


class FlagClient:
    """A live, in-process copy of the flags bucket, and of the tenant plans bucket.

    `await start()` connects and loads the snapshot (waiting at most `start_timeout_s`; it does
    not fail when NATS is down, it keeps retrying in the background). Reads never do I/O and
    never raise: an unknown flag, or a flag of another type, gives the caller's `default`.
    After a disconnect the client keeps serving what it had and reloads the whole bucket when
    the connection returns (so deletions made meanwhile are seen too).

    Plans: a read without `plan=` evaluates with the tenant's plan from `plans_bucket` (None: no
    lookup); an explicit `plan=` wins. A tenant without an entry, or a missing bucket (billing has not
    written yet), means no plan: the tenant override or the default applies.
    """

    def __init__(
        self,
        nats_url: str,
        *,
        bucket: str = FLAGS_BUCKET,
        plans_bucket: str | None = TENANT_PLANS_BUCKET,
        name: str = "flag-client",
        retry_s: float = 0.5,
    ) -> None:
        self._url = nats_url
        self._bucket = bucket
        self._name = name
        self._retry_s = retry_s
        self._flags: KvMirror[Flag] = KvMirror(bucket, _parse_flag, replaces=_not_older, retry_s=retry_s)
        # Tenants can be many and readers only `get`: changes are applied in place, not copied.
        self._plans: KvMirror[str] | None = (
            KvMirror(plans_bucket, parse_plan, copy_on_write=False, retry_s=retry_s) if plans_bucket else None
        )
        self._nc: NatsClient | None = None
        self._connecting = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        FLAG_CACHE_AGE.labels(bucket).set_function(self.cache_age_s)

    # ---- reads: the hot path -------------------------------------------------------------
    def get(self, key: str) -> Flag | None:
        return self._flags.data.get(key)

    def keys(self) -> list[str]:
        return sorted(self._flags.data)

    def plan_of(self, tenant_id: uuid.UUID | str | None) -> str | None:
        """The tenant's plan code as billing last published it (None: unknown)."""
        if tenant_id is None or self._plans is None:
            return None
        return self._plans.data.get(tenant_key(tenant_id))

    def _value(
        self, key: str, tenant_id: uuid.UUID | str | None, plan: str | None, user_id: str | None, types: tuple[str, ...]
    ) -> FlagValue | None:
        flag = self._flags.data.get(key)
        if flag is None or flag.type not in types:
            return None
        if plan is None and flag.plans:  # only flags with plan overrides pay for the lookup
            plan = self.plan_of(tenant_id)
        return evaluate(flag, tenant_id, plan, user_id)

    def is_enabled(
        self,
        key: str,
        tenant_id: uuid.UUID | str | None,
        *,
        default: bool,
        plan: str | None = None,
        user_id: str | None = None,
    ) -> bool:
        """A boolean or percentage flag."""
        value = self._value(key, tenant_id, plan, user_id, ("boolean", "percentage"))
        return value if isinstance(value, bool) else default

    def get_int(self, key: str, tenant_id: uuid.UUID | str | None, *, default: int, plan: str | None = None) -> int:
        value = self._value(key, tenant_id, plan, None, ("integer",))
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def get_list(
        self, key: str, tenant_id: uuid.UUID | str | None, *, default: list[str], plan: str | None = None
    ) -> list[str]:
        value = self._value(key, tenant_id, plan, None, ("string_list",))
        return value if isinstance(value, list) else default

    def get_variant(
        self,
        key: str,
        tenant_id: uuid.UUID | str | None,
        *,
        default: str,
        plan: str | None = None,
        user_id: str | None = None,
    ) -> str:
        value = self._value(key, tenant_id, plan, user_id, ("variant",))
        return value if isinstance(value, str) else default

    def cache_age_s(self) -> float:
        """0 while the flags watch is live; else seconds since it was last live (or since start)."""
        return self._flags.cache_age_s()

    @property
    def live(self) -> bool:
        return self._flags.live

    @property
    def plans_live(self) -> bool:
        """The tenant plans bucket is loaded and watched (False too while billing has not created it)."""
        return self._plans is not None and self._plans.live

    # ---- lifecycle -----------------------------------------------------------------------
    def _mirrors(self) -> list[KvMirror[Flag] | KvMirror[str]]:
        return [self._flags] if self._plans is None else [self._flags, self._plans]

    async def start(self, start_timeout_s: float = 2.0) -> FlagClient:
        """Start both watches; wait (at most `start_timeout_s`) for the flags and for the plans or their absence."""
        self._tasks = [
            asyncio.create_task(mirror.run(self._connect), name=f"{self._name}-watch-{mirror.bucket}")
            for mirror in self._mirrors()
        ]
        waits = [self._flags.loaded.wait()]
        if self._plans is not None:
            waits.append(self._plans.settled.wait())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), start_timeout_s)
        return self

    async def close(self) -> None:
        with contextlib.suppress(KeyError):
            FLAG_CACHE_AGE.remove(self._bucket)  # the gauge would otherwise keep this client alive
        await stop_tasks(*self._tasks)
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.close()

    async def __aenter__(self) -> FlagClient:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connect(self) -> NatsClient:
        """The one connection both watches share (the lock keeps them from opening two)."""
        async with self._connecting:
            if self._nc is not None and not self._nc.is_closed:
                return self._nc

            self._nc = await connect_for_mirrors(
                self._url, name=self._name, retry_s=self._retry_s, mirrors=self._mirrors
            )
            return self._nc
