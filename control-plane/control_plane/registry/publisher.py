"""Publication of model aliases to the JetStream KV bucket the gateways mirror, and its republish.

Postgres is the source of truth. The document of an alias is its current registry row (`alias`,
`version`, `config`, `created_at`, `created_by`) under key `<alias>` in bucket `model_registry`. A
write lands only when its version is newer than the bucket's (compare-and-set on the key's
revision), so two PUTs of one alias publishing out of order, or a republish racing a PUT, never put
an older version over a newer one. A PUT whose publish fails (NATS down) keeps its commit; the
republish at start and every reconcile interval puts it in. Keys are never deleted here: a deleted
alias is published as its tombstone version (`status: "deleted"`), which keeps the compare-and-set
ordering and tells the gateways to drop it; a key written by another tool is left alone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats
import orjson
from nats.js.kv import KeyValue
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session
from aiaas.flags.kv import KvBucket, kv_versions, put_if_newer
from control_plane.registry import repository as repo

__all__ = ["MODEL_REGISTRY_BUCKET", "MODELS_PUBLISHED", "ModelRegistryPublisher"]

_log = logging.getLogger(__name__)

# The bucket the gateway's catalog mirrors (gateway/catalog/registry.py uses the same name).
MODEL_REGISTRY_BUCKET = "model_registry"

MODELS_PUBLISHED = Counter(
    "model_registry_published_total", "Model alias documents written to KV", ["result"]
)  # result: ok / failed / republished


def document(row: dict[str, Any]) -> bytes:
    """The KV value of an alias: its registry row as JSON (version included, for compare-and-set)."""
    return orjson.dumps(row)


class ModelRegistryPublisher:
    """Owns a NATS connection of its own; never raises to the API on a NATS failure."""

    def __init__(self, nats_url: str, bucket: str = MODEL_REGISTRY_BUCKET, *, timeout_s: float = 2.0) -> None:
        self._timeout_s = timeout_s
        self._store = KvBucket(
            nats_url, bucket, name="control-plane-registry", description="model aliases", timeout_s=timeout_s
        )

    async def _bucket_kv(self) -> KeyValue:
        kv = await self._store.kv()
        return kv

    async def close(self) -> None:
        await self._store.close()

    async def publish(self, row: dict[str, Any]) -> bool:
        """Write the alias's row if newer than the bucket's; False when NATS could not be reached."""
        alias, version = row["alias"], int(row["version"])
        try:
            async with asyncio.timeout(self._timeout_s):
                kv = await self._bucket_kv()
                await put_if_newer(kv, alias, version, document(row))
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            MODELS_PUBLISHED.labels("failed").inc()
            _log.warning("model alias %s v%d not published (%s); the republish will retry", alias, version, exc)
            return False
        MODELS_PUBLISHED.labels("ok").inc()
        return True

    async def republish(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Write every alias whose current version the bucket lacks; how many were written."""
        kv = await self._bucket_kv()
        # Read KV before Postgres: a PUT committed in between is newer and wins the compare-and-set.
        present = await kv_versions(kv)
        async with admin_session(sessions) as session:
            rows = await repo.list_current(session, "model_registry", deleted=True)
        written = 0
        for row in rows:
            alias, version = row["alias"], int(row["version"])
            if present.get(alias, -1) < version and await put_if_newer(kv, alias, version, document(row)):
                written += 1
        MODELS_PUBLISHED.labels("republished").inc(written)
        return written

    async def run_republisher(self, sessions: async_sessionmaker[AsyncSession], interval_s: float) -> None:
        """Republish now and every `interval_s`, forever; failures are logged and retried."""
        while True:
            try:
                async with asyncio.timeout(max(interval_s, 10.0)):
                    written = await self.republish(sessions)
                if written:
                    _log.info("model aliases republished into KV: %d", written)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS or Postgres down: try again next round
                _log.warning("model registry republish failed (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(interval_s)
