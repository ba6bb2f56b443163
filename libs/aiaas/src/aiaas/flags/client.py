"""`FlagClient`: the live, in-process copy of the control plane's flags bucket every service reads.

It loads the JetStream KV bucket (one JSON document per flag, `Flag.to_json()`), then watches it and swaps
flags in its in-memory dict as they change; reads are dict lookups, never I/O, never raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from prometheus_client import Counter, Gauge

from aiaas.flags.model import FLAGS_BUCKET, Flag, FlagValue, evaluate

__all__ = ["FlagClient"]

_log = logging.getLogger(__name__)

FLAG_UPDATES = Counter("flag_updates_total", "Flag changes applied to the local cache", ["bucket", "kind"])
FLAG_CACHE_AGE = Gauge(
    "flag_cache_age_seconds", "Seconds the flag cache has been without a live watch (0 = live)", ["bucket"]
)
FLAG_CACHE_SIZE = Gauge("flag_cache_flags", "Flags held in the local cache", ["bucket"])


class FlagClient:
    """A live, in-process copy of the flags bucket.

    `await start()` connects and loads the snapshot (waiting at most `start_timeout_s`; it does
    not fail when NATS is down, it keeps retrying in the background). Reads never do I/O and
    never raise: an unknown flag, or a flag of another type, gives the caller's `default`.
    After a disconnect the client keeps serving what it had and reloads the whole bucket when
    the connection returns (so deletions made meanwhile are seen too).
    """

    def __init__(
        self,
        nats_url: str,
        *,
        bucket: str = FLAGS_BUCKET,
        name: str = "flag-client",
        retry_s: float = 0.5,
    ) -> None:
        self._url = nats_url
        self._bucket = bucket
        self._name = name
        self._retry_s = retry_s
        self._flags: dict[str, Flag] = {}
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._resync = asyncio.Event()
        self._loaded = asyncio.Event()
        self._stale_since: float | None = time.monotonic()
        FLAG_CACHE_AGE.labels(bucket).set_function(self.cache_age_s)

    # ---- reads: the hot path -------------------------------------------------------------
    def get(self, key: str) -> Flag | None:
        return self._flags.get(key)

    def keys(self) -> list[str]:
        return sorted(self._flags)

    def _value(
        self, key: str, tenant_id: uuid.UUID | str | None, plan: str | None, user_id: str | None, types: tuple[str, ...]
    ) -> FlagValue | None:
        flag = self._flags.get(key)
        if flag is None or flag.type not in types:
            return None
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
        """0 while the watch is live; else seconds since it was last live (or since start)."""
        stale = self._stale_since
        return 0.0 if stale is None else time.monotonic() - stale

    @property
    def live(self) -> bool:
        return self._stale_since is None

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self, start_timeout_s: float = 2.0) -> FlagClient:
        self._task = asyncio.create_task(self._run(), name=f"{self._name}-watch")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._loaded.wait(), start_timeout_s)
        return self

    async def close(self) -> None:
        with contextlib.suppress(KeyError):
            FLAG_CACHE_AGE.remove(self._bucket)  # the gauge would otherwise keep this client alive
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.close()

    async def __aenter__(self) -> FlagClient:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connect(self) -> NatsClient:
        if self._nc is not None and not self._nc.is_closed:
            return self._nc

        async def disconnected() -> None:
            self._mark_stale()

        async def reconnected() -> None:
            self._resync.set()

        async def error(exc: Exception) -> None:
            _log.debug("flag client NATS error: %r", exc)

        self._nc = await nats.connect(
            self._url,
            name=self._name,
            connect_timeout=2,
            reconnect_time_wait=self._retry_s,
            max_reconnect_attempts=-1,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )
        return self._nc

    def _mark_stale(self) -> None:
        if self._stale_since is None:
            self._stale_since = time.monotonic()

    async def _run(self) -> None:
        while True:
            try:
                await self._watch(await self._connect())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS down, bucket missing: keep the cache, retry
                self._mark_stale()
                _log.warning("flag watch interrupted (%s); serving the last known flags", type(exc).__name__)
                await asyncio.sleep(self._retry_s)

    async def _watch(self, nc: NatsClient) -> None:
        try:
            kv: KeyValue = await nc.jetstream().key_value(self._bucket)
        except BucketNotFoundError:
            await asyncio.sleep(self._retry_s)
            return
        self._resync.clear()
        watcher = await kv.watchall()
        snapshot: dict[str, Flag] | None = {}
        try:
            while not self._resync.is_set():
                try:
                    entry = await watcher.updates(timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # end of the initial snapshot
                    if snapshot is not None:
                        self._flags = snapshot
                        snapshot = None
                        self._stale_since = None
                        self._loaded.set()
                        FLAG_UPDATES.labels(self._bucket, "snapshot").inc()
                        FLAG_CACHE_SIZE.labels(self._bucket).set(len(self._flags))
                    continue
                self._apply(snapshot, entry)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()

    def _apply(self, snapshot: dict[str, Flag] | None, entry: KeyValue.Entry) -> None:
        target = snapshot if snapshot is not None else self._flags
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            if snapshot is None:
                # Copy-on-write: readers iterating `keys()` never see the dict change size.
                flags = dict(self._flags)
                flags.pop(entry.key, None)
                self._flags = flags
                FLAG_UPDATES.labels(self._bucket, "delete").inc()
            else:
                target.pop(entry.key, None)
            return
        try:
            flag = Flag.from_json(orjson.loads(entry.value))
        except (ValueError, KeyError, TypeError):
            FLAG_UPDATES.labels(self._bucket, "rejected").inc()
            _log.warning("ignoring malformed flag document for %r", entry.key)
            return
        current = target.get(flag.key)
        if current is not None and current.version > flag.version:
            return  # an older document replayed: keep the newer one
        if snapshot is None:
            self._flags = {**self._flags, flag.key: flag}
            FLAG_UPDATES.labels(self._bucket, "update").inc()
            FLAG_CACHE_SIZE.labels(self._bucket).set(len(self._flags))
        else:
            target[flag.key] = flag
