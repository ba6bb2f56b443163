"""JetStream KV plumbing shared by the flag client and the tenant plan publisher.

`KvMirror` is a live, in-process copy of one bucket: `watchall` replays the last value of every key
(then `None` marks the end of that snapshot) and then delivers each change as it is written. The
mirror keeps its last values while the watch is down and reloads the whole bucket after a reconnect,
so deletions made meanwhile are seen too. `ensure_bucket` creates a bucket only when it is missing.

Versioned documents (JSON with a `version` that only grows, as the control plane publishes flags and
model aliases): `put_if_newer` writes one unless the bucket already holds that version or a newer
one (compare-and-set on the key's revision), `kv_versions` reads the version of every live key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, Protocol, TypeVar

import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from prometheus_client import Counter, Gauge

__all__ = [
    "FLAG_UPDATES",
    "FLAG_CACHE_SIZE",
    "KvBucket",
    "KvMirror",
    "SnapshotEnd",
    "connect_for_mirrors",
    "document_version",
    "ensure_bucket",
    "kv_versions",
    "put_if_newer",
]

_log = logging.getLogger(__name__)

FLAG_UPDATES = Counter("flag_updates_total", "Flag changes applied to the local cache", ["bucket", "kind"])
FLAG_CACHE_SIZE = Gauge("flag_cache_flags", "Flags held in the local cache", ["bucket"])

T = TypeVar("T")
Opener = Callable[[JetStreamContext], Awaitable[KeyValue]]
Connector = Callable[[], Awaitable[NatsClient]]


async def ensure_bucket(js: JetStreamContext, bucket: str, *, history: int = 1, description: str = "") -> KeyValue:
    """The bucket, created when missing.

    Binding first leaves an existing bucket exactly as its creator configured it (creating it again
    with other settings would be refused); a concurrent creator that wins the race is not an error.
    """
    with contextlib.suppress(BucketNotFoundError):
        return await js.key_value(bucket)
    try:
        return await js.create_key_value(bucket=bucket, history=history, description=description)
    except BadRequestError:  # created meanwhile, with another configuration: use it as it is
        return await js.key_value(bucket)


class SnapshotEnd:
    """Says when a `watchall` has delivered the whole bucket as it was when the watch began.

    nats-py's end-of-snapshot marker (`None`) can overtake the last values when they are delivered while
    the watcher checks its consumer, so the marker alone is not enough: the snapshot is complete once the
    marker came and every message up to the bucket's last sequence (read before the watch) was seen.
    """

    def __init__(self, expected: int) -> None:
        self._expected = expected
        self._seen = 0
        self.marker = False

    @classmethod
    async def of(cls, kv: KeyValue) -> SnapshotEnd:
        """Read before `kv.watchall()`."""
        return cls((await kv.status()).stream_info.state.last_seq or 0)

    def see(self, entry: KeyValue.Entry | None) -> bool:
        """Record a watch update (None: the marker); True once the snapshot is complete."""
        if entry is None:
            self.marker = True
        else:
            self._seen = max(self._seen, entry.revision or 0)
        return self.marker and self._seen >= self._expected


class KvMirror(Generic[T]):
    """A live copy of one KV bucket as `data` (key -> parsed value); reads are dict lookups.

    `parse` turns an entry's bytes into a value and raises ValueError/KeyError/TypeError for a bad one
    (ignored and counted). `replaces(current, new)` may refuse a replayed older value. With
    `copy_on_write` each change swaps in a new dict, so a reader iterating `data` never sees it change
    size; without it (large buckets, readers that only `get`) changes are applied in place, O(1) each.
    """

    def __init__(
        self,
        bucket: str,
        parse: Callable[[bytes], T],
        *,
        replaces: Callable[[T, T], bool] | None = None,
        opener: Opener | None = None,
        copy_on_write: bool = True,
        retry_s: float = 0.5,
    ) -> None:
        self.bucket = bucket
        self.data: dict[str, T] = {}
        self._revisions: dict[str, int] = {}
        self._parse = parse
        self._replaces = replaces
        self._opener = opener
        self._cow = copy_on_write
        self._retry_s = retry_s
        self._resync = asyncio.Event()
        # `loaded`: a snapshot was applied. `settled`: loaded, or the bucket was found missing, so a
        # caller waiting at start-up has nothing more to wait for.
        self.loaded = asyncio.Event()
        self.settled = asyncio.Event()
        self._stale_since: float | None = time.monotonic()

    # ---- state ---------------------------------------------------------------------------
    def cache_age_s(self) -> float:
        """0 while the watch is live; else seconds since it was last live (or since creation)."""
        stale = self._stale_since
        return 0.0 if stale is None else time.monotonic() - stale

    @property
    def live(self) -> bool:
        return self._stale_since is None

    def mark_stale(self) -> None:
        if self._stale_since is None:
            self._stale_since = time.monotonic()

    def resync(self) -> None:
        """Reload the whole bucket (after a reconnect, or when the bucket may have been recreated)."""
        self._resync.set()

    def set_local(self, key: str, value: T, revision: int) -> None:
        """Record a value this process just wrote at `revision`, before the watch echoes it back.

        A newer revision already seen (another writer's) is kept: the watch delivers in order.
        """
        if revision <= self._revisions.get(key, 0):
            return
        self._revisions[key] = revision
        self._store(key, value)

    # ---- the watch -----------------------------------------------------------------------
    async def run(self, connect: Connector) -> None:
        """Watch forever: on any failure keep the last values, wait `retry_s`, start again."""
        while True:
            try:
                await self._watch(await connect())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS down, bucket deleted: keep the cache, retry
                self.mark_stale()
                _log.warning("KV watch of %s interrupted (%s); serving the last known values", self.bucket, exc)
                await asyncio.sleep(self._retry_s)

    async def _open(self, nc: NatsClient) -> KeyValue:
        js = nc.jetstream()
        return await (self._opener(js) if self._opener is not None else js.key_value(self.bucket))

    async def _watch(self, nc: NatsClient) -> None:
        # A connection shared with others gets no reconnect callback from us: its counter tells instead.
        reconnects = nc.stats["reconnects"]
        try:
            kv = await self._open(nc)
        except BucketNotFoundError:
            self.settled.set()
            await asyncio.sleep(self._retry_s)
            return
        self._resync.clear()
        end = await SnapshotEnd.of(kv)
        watcher = await kv.watchall()
        snapshot: dict[str, T] | None = {}
        revisions: dict[str, int] = {}
        try:
            while not self._resync.is_set():
                try:
                    entry = await watcher.updates(timeout=1.0)
                except nats.errors.TimeoutError:
                    if nc.stats["reconnects"] != reconnects:
                        return
                    if not nc.is_connected:
                        self.mark_stale()
                    elif snapshot is not None and end.marker:  # quiet: what was expected is gone (purged)
                        self._install(snapshot, revisions)
                        snapshot = None
                    continue
                if snapshot is None:
                    if entry is not None:
                        self._apply(entry)
                    continue
                if entry is not None:
                    self._collect(snapshot, revisions, entry)
                if end.see(entry):
                    self._install(snapshot, revisions)
                    snapshot = None
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()

    def _install(self, snapshot: dict[str, T], revisions: dict[str, int]) -> None:
        self.data = snapshot
        self._revisions = revisions
        self._stale_since = None
        self.loaded.set()
        self.settled.set()
        FLAG_UPDATES.labels(self.bucket, "snapshot").inc()
        FLAG_CACHE_SIZE.labels(self.bucket).set(len(snapshot))

    def _decode(self, entry: KeyValue.Entry) -> tuple[bool, T | None]:
        """(deleted?, value); value None for a malformed entry."""
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            return True, None
        try:
            return False, self._parse(entry.value)
        except (ValueError, KeyError, TypeError):
            FLAG_UPDATES.labels(self.bucket, "rejected").inc()
            _log.warning("ignoring malformed entry %r in KV bucket %s", entry.key, self.bucket)
            return False, None

    def _collect(self, snapshot: dict[str, T], revisions: dict[str, int], entry: KeyValue.Entry) -> None:
        deleted, value = self._decode(entry)
        if deleted:
            snapshot.pop(entry.key, None)
            revisions.pop(entry.key, None)
            return
        if value is None or not self._accepts(snapshot.get(entry.key), value):
            return
        snapshot[entry.key] = value
        revisions[entry.key] = entry.revision or 0

    def _apply(self, entry: KeyValue.Entry) -> None:
        revision = entry.revision or 0
        if revision < self._revisions.get(entry.key, 0):
            return  # older than a value this process wrote and recorded already: that one stays
        deleted, value = self._decode(entry)
        if deleted:
            self._revisions.pop(entry.key, None)
            if self._cow:
                data = dict(self.data)
                data.pop(entry.key, None)
                self.data = data
            else:
                self.data.pop(entry.key, None)
            FLAG_UPDATES.labels(self.bucket, "delete").inc()
            FLAG_CACHE_SIZE.labels(self.bucket).set(len(self.data))
            return
        if value is None or not self._accepts(self.data.get(entry.key), value):
            return
        self._revisions[entry.key] = revision
        self._store(entry.key, value)
        FLAG_UPDATES.labels(self.bucket, "update").inc()

    def _accepts(self, current: T | None, new: T) -> bool:
        return current is None or self._replaces is None or self._replaces(current, new)

    def _store(self, key: str, value: T) -> None:
        if self._cow:
            self.data = {**self.data, key: value}
        else:
            self.data[key] = value
        FLAG_CACHE_SIZE.labels(self.bucket).set(len(self.data))


def document_version(value: bytes | None) -> int:
    """The `version` of a stored JSON document; -1 when absent or unreadable."""
    try:
        return int(orjson.loads(value or b"{}").get("version", -1))
    except (ValueError, TypeError, AttributeError):
        return -1


async def put_if_newer(kv: KeyValue, key: str, version: int, document: bytes, *, attempts: int = 5) -> bool:
    """Compare-and-set `document` unless the bucket already holds `version` or a newer one."""
    for _ in range(attempts):
        try:
            entry = await kv.get(key)
        except KeyNotFoundError as missing:  # never written, or a delete marker
            last = missing.entry.revision if missing.entry is not None else 0
        else:
            if document_version(entry.value) >= version:
                return False
            last = entry.revision or 0
        try:
            await kv.update(key, document, last=last)
            return True
        except KeyWrongLastSequenceError:
            continue  # someone wrote meanwhile: look again
    return False


async def kv_versions(kv: KeyValue) -> dict[str, int]:
    """key -> published version of every live key in the bucket."""
    end = await SnapshotEnd.of(kv)
    watcher = await kv.watchall()
    versions: dict[str, int] = {}
    try:
        while True:
            try:
                entry: KeyValue.Entry | None = await watcher.updates(timeout=5.0)
            except nats.errors.TimeoutError:
                if end.marker:  # quiet after the marker: what was expected is gone (purged)
                    return versions
                raise
            if entry is not None:
                if entry.operation in (KV_DEL, KV_PURGE):
                    versions.pop(entry.key, None)
                else:
                    versions[entry.key] = document_version(entry.value)
            if end.see(entry):
                return versions
    finally:
        await watcher.stop()


class Resyncable(Protocol):
    """What a connection tells its mirrors (`KvMirror` of any value type)."""

    def mark_stale(self) -> None: ...

    def resync(self) -> None: ...


async def connect_for_mirrors(
    url: str, *, name: str, retry_s: float, mirrors: Callable[[], Iterable[Resyncable]]
) -> NatsClient:
    """A connection that reconnects forever: its mirrors go stale when it drops and reload when it returns.

    With `max_reconnect_attempts=-1` this returns only once NATS answers.
    """

    async def disconnected() -> None:
        for mirror in mirrors():
            mirror.mark_stale()

    async def reconnected() -> None:
        for mirror in mirrors():
            mirror.resync()

    async def error(exc: Exception) -> None:
        _log.debug("%s: NATS error: %r", name, exc)

    return await nats.connect(
        url,
        name=name,
        connect_timeout=2,
        reconnect_time_wait=retry_s,
        max_reconnect_attempts=-1,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )


class KvBucket:
    """A writer's handle on one bucket: connects on first use (reconnecting forever), creates the bucket if
    missing, and is reopened after the connection was closed."""

    def __init__(
        self, url: str, bucket: str, *, name: str, description: str, history: int = 5, timeout_s: float = 2.0
    ) -> None:
        self.url = url
        self.bucket = bucket
        self._name = name
        self._description = description
        self._history = history
        self._timeout_s = timeout_s
        self._nc: NatsClient | None = None
        self._kv: KeyValue | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def kv(self) -> KeyValue:
        async with self._lock:
            if self._nc is None or self._nc.is_closed:
                self._nc = await nats.connect(
                    self.url, name=self._name, connect_timeout=2, reconnect_time_wait=0.5, max_reconnect_attempts=-1
                )
                self._kv = None
            if self._kv is None:
                js = self._nc.jetstream(timeout=self._timeout_s)
                self._kv = await ensure_bucket(js, self.bucket, history=self._history, description=self._description)
            return self._kv

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.close()
