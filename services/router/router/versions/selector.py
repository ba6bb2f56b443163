"""Which router version decides a request: the stable one, or the canary for its share of conversations.

`VersionSelector.choose(tenant_id, conversation_key)` is on the decide path, so it does no I/O: it reads the
serving set kept in memory. A background task (`start`) polls `router_versions` every `poll_s` seconds and,
when the serving set changed, loads the new artifacts (in a thread; models are cached by sha256, so a
version promoted from canary to stable is not loaded again).

Stickiness: a conversation goes to the canary when `bucket(canary id, tenant, conversation key) < share`,
with the bucket a uniform number in [0, 1) from SHA-256. The same conversation always gets the same bucket,
so it stays on one version while the canary runs; raising the share only adds conversations to the canary;
a new canary gets a fresh split (its id is hashed in). A tenant policy's canary share (`share=`) replaces the
platform share for that tenant's requests.

Until the database holds a stable version, the stable one is the committed default artifact (`router.model`'s
`router-v1.json`, or the path given). An artifact that cannot be loaded gives `model=None`: decide then
takes the deterministic fallback table, and the decision still names the version.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.tasks import stop_tasks
from router.model import ArtifactError, RouterModel
from router.versions import repository as repo
from router.versions.artifacts import DEFAULT_ARTIFACT, load_bytes, load_path

__all__ = ["Selection", "ServingVersion", "VersionSelector", "canary_bucket"]

_log = logging.getLogger(__name__)
_SCALE = float(1 << 64)
# What this process serves: the stable version at 1 - the canary's share, the canary at its share; `loaded` 0 when
# the version's artifact does not load (its decisions take the fallback table).
SERVING = Gauge("router_version_serving_share", "Share of conversations per router version", ["version", "role"])
LOADED = Gauge(
    "router_version_loaded", "1 when the serving version's artifact loaded, 0 when it falls back", ["version"]
)


@dataclass(frozen=True)
class Selection:
    """The version that decides one request; `model` None means: use the fallback table."""

    version: str
    model: RouterModel | None
    canary: bool


@dataclass(frozen=True)
class ServingVersion:
    id: str
    sha256: str
    share: float
    model: RouterModel | None


def canary_bucket(canary_id: str, tenant_id: uuid.UUID | str, conversation_key: str) -> float:
    """A uniform number in [0, 1), fixed for (canary, tenant, conversation)."""
    digest = hashlib.sha256(f"{canary_id}\x00{tenant_id}\x00{conversation_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


class VersionSelector:
    """The serving versions of one router process, refreshed from `router_versions`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        *,
        default_artifact: Path = DEFAULT_ARTIFACT,
        cache_dir: Path | None = None,
        poll_s: float = 2.0,
    ) -> None:
        self._sessions = sessions
        self._default_path = default_artifact
        self._cache_dir = cache_dir
        self._poll_s = poll_s
        self._models: dict[str, RouterModel | None] = {}
        self._fingerprint: tuple[tuple[str, str, str, float], ...] | None = None
        self._default = self._load_default()
        self.stable: ServingVersion = self._default
        self.canary: ServingVersion | None = None
        self._task: asyncio.Task[None] | None = None
        self._publish_gauges()

    def _publish_gauges(self) -> None:
        SERVING.clear()
        LOADED.clear()
        canary_share = self.canary.share if self.canary is not None else 0.0
        SERVING.labels(version=self.stable.id, role="stable").set(1.0 - canary_share)
        LOADED.labels(version=self.stable.id).set(1.0 if self.stable.model is not None else 0.0)
        if self.canary is not None:
            SERVING.labels(version=self.canary.id, role="canary").set(canary_share)
            LOADED.labels(version=self.canary.id).set(1.0 if self.canary.model is not None else 0.0)

    def _load_default(self) -> ServingVersion:
        try:
            _, model = load_path(self._default_path)
        except ArtifactError as exc:
            _log.warning("default router artifact %s not loadable (fallback table serves): %s", self._default_path, exc)
            return ServingVersion(
                id=self._default_path.stem, sha256="", share=0.0, model=None
            )  # = default_version_name
        self._models[model.sha256] = model
        return ServingVersion(id=model.version, sha256=model.sha256, share=0.0, model=model)

    @property
    def default_version(self) -> str:
        """The version name the default artifact serves under while the database has no stable version."""
        return self._default.id

    def choose(self, tenant_id: uuid.UUID | str, conversation_key: str, *, share: float | None = None) -> Selection:
        """The version for this conversation; `share` (a tenant policy's canary share) replaces the platform's."""
        canary = self.canary
        if canary is not None:
            effective = canary.share if share is None else min(max(share, 0.0), 1.0)
            if effective > 0.0 and canary_bucket(canary.id, tenant_id, conversation_key) < effective:
                return Selection(version=canary.id, model=canary.model, canary=True)
        stable = self.stable
        return Selection(version=stable.id, model=stable.model, canary=False)

    async def start(self) -> None:
        """Read the serving set now (a database error leaves the default serving) and keep polling it."""
        await self._refresh_logged()
        if self._sessions is not None and self._task is None:
            self._task = asyncio.create_task(self._poll(), name="router-version-poll")

    async def close(self) -> None:
        await stop_tasks(self._task)
        self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            await self._refresh_logged()

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception:  # noqa: BLE001 - a poll must outlive a database restart; the last good set keeps serving
            _log.warning("router versions not refreshed", exc_info=True)

    async def refresh(self) -> bool:
        """Re-read the serving set; True when it changed (new models are loaded before they serve)."""
        if self._sessions is None:
            return False
        async with self._sessions() as session:
            rows = await repo.serving_rows(session)
            fingerprint = tuple((r.id, r.sha256, r.status, r.share) for r in rows)
            if fingerprint == self._fingerprint:
                return False
            missing = {r.sha256 for r in rows} - self._models.keys()
            blobs = {sha: await repo.artifact_bytes(session, sha) for sha in missing}
        for sha, data in blobs.items():
            self._models[sha] = await asyncio.to_thread(self._load, sha, data)
        stable, canary = self._default, None
        for row in rows:
            serving = ServingVersion(id=row.id, sha256=row.sha256, share=row.share, model=self._models.get(row.sha256))
            if row.status == "stable":
                stable = serving
            else:
                canary = serving
        # Keep only what serves (plus the default): a retired version's model is let go.
        keep = {r.sha256 for r in rows} | {self._default.sha256}
        self._models = {sha: model for sha, model in self._models.items() if sha in keep}
        self.stable, self.canary, self._fingerprint = stable, canary, fingerprint
        self._publish_gauges()
        _log.info(
            "router versions: stable %s, canary %s",
            stable.id,
            f"{canary.id} at {canary.share:.0%}" if canary else "none",
        )
        return True

    def _load(self, sha: str, data: bytes | None) -> RouterModel | None:
        try:
            model = load_bytes(data, self._cache_dir) if data is not None else None
        except ArtifactError as exc:
            _log.error("router version artifact %s not loadable (fallback table serves it): %s", sha, exc)
            return None
        if model is None or model.sha256 != sha:
            _log.error("router version artifact %s missing or altered in the database", sha)
            return None
        return model
