"""Publication of flag documents to the JetStream KV bucket, and its reconcile from Postgres.

Postgres is the source of truth. Every document carries a `version` taken from one ever-growing
sequence, and a write only lands when it is newer than what the bucket holds (compare-and-set on
the key's revision), so a slow publisher or a reconcile racing an API change can never put an
older document over a newer one. A commit made while NATS is down reaches the bucket at the next
reconcile (at start and every `reconcile_interval_s`).
"""

from __future__ import annotations

import asyncio
import logging

import nats
import orjson
from nats.js.kv import KeyValue
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session
from aiaas.flags import Flag
from aiaas.flags.kv import KvBucket, kv_versions, put_if_newer
from control_plane.flags.repository import load_flags

__all__ = ["FlagPublisher", "FLAGS_PUBLISHED", "FLAGS_RECONCILED"]

_log = logging.getLogger(__name__)

FLAGS_PUBLISHED = Counter("flags_published_total", "Flag documents written to KV", ["result"])
FLAGS_RECONCILED = Counter("flags_reconciled_total", "KV keys fixed by a reconcile", ["action"])
FLAGS_NATS_UP = Gauge("flags_publisher_connected", "1 while the control plane is connected to NATS")


def _document(flag: Flag) -> bytes:
    return orjson.dumps(flag.to_json())


class FlagPublisher:
    """Owns the NATS connection of the control plane; never raises to the API on a NATS failure."""

    def __init__(self, nats_url: str, bucket: str, *, timeout_s: float = 2.0) -> None:
        self._timeout_s = timeout_s
        self._store = KvBucket(nats_url, bucket, name="control-plane", description="feature flags", timeout_s=timeout_s)

    @property
    def connected(self) -> bool:
        return self._store.connected

    async def _bucket_kv(self) -> KeyValue:
        kv = await self._store.kv()
        FLAGS_NATS_UP.set(1 if self._store.connected else 0)
        return kv

    async def close(self) -> None:
        await self._store.close()

    async def publish(self, flag: Flag) -> bool:
        """Write the flag's document if newer than the bucket's; False when NATS could not be reached."""
        try:
            async with asyncio.timeout(self._timeout_s):
                kv = await self._bucket_kv()
                await put_if_newer(kv, flag.key, flag.version, _document(flag))
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            FLAGS_PUBLISHED.labels("failed").inc()
            _log.warning("flag %s v%d not published (%s); the reconcile will retry", flag.key, flag.version, exc)
            return False
        FLAGS_PUBLISHED.labels("ok").inc()
        return True

    async def unpublish(self, key: str) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s):
                kv = await self._bucket_kv()
                await kv.delete(key)
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            _log.warning("flag %s not deleted from KV (%s); the reconcile will retry", key, exc)
            return False
        return True

    async def reconcile(self, sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
        """Make the bucket equal Postgres: write missing or older documents, delete keys of deleted flags."""
        kv = await self._bucket_kv()
        # Read KV before Postgres: a change committed in between is newer and wins the compare-and-set.
        present = await kv_versions(kv)
        async with admin_session(sessions) as session:
            flags = await load_flags(session)
        counts = {"put": 0, "deleted": 0}
        for flag in flags:
            if present.get(flag.key, -1) < flag.version and await put_if_newer(
                kv, flag.key, flag.version, _document(flag)
            ):
                counts["put"] += 1
        for key in set(present) - {flag.key for flag in flags}:
            await kv.delete(key)
            counts["deleted"] += 1
        for action, n in counts.items():
            FLAGS_RECONCILED.labels(action).inc(n)
        return counts

    async def run_reconciler(self, sessions: async_sessionmaker[AsyncSession], interval_s: float) -> None:
        """Reconcile now and every `interval_s`, forever; failures are logged and retried."""
        while True:
            try:
                async with asyncio.timeout(max(interval_s, 10.0)):
                    counts = await self.reconcile(sessions)
                if counts["put"] or counts["deleted"]:
                    _log.info("flags reconciled into KV: %s", counts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS or Postgres down: try again next round
                FLAGS_NATS_UP.set(1 if self.connected else 0)
                _log.warning("flag reconcile failed (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(interval_s)
