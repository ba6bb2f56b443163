"""`VersionSelector`: which version decides a conversation, read from `router_versions` (a database of its own)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import admin_session, create_engine, session_factory
from aiaas_testing import InfraUrls
from router.canary.events import CanaryEvents
from router.versions.schemas import ActivateIn, RegisterIn
from router.versions.selector import VersionSelector, canary_bucket
from router.versions.service import VersionAdmin

from .canary_factories import Database, constant_artifact, throwaway_database


@pytest.fixture(scope="module")
def db(infra_urls: InfraUrls) -> Iterator[Database]:
    with throwaway_database(infra_urls, "selector") as database:
        yield database


@pytest.fixture(scope="module")
async def sessions(
    db: Database,
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]]]:
    """(app_runtime sessions, platform_admin sessions) on the test database."""
    runtime, admin = create_engine(db.runtime_url, pool_size=2), create_engine(db.admin_url, pool_size=2)
    yield session_factory(runtime), session_factory(admin)
    await runtime.dispose()
    await admin.dispose()


@pytest.fixture(scope="module")
def default_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("selector") / "router-default.json"
    path.write_text(json.dumps(constant_artifact("default-v0", 0.8, 0.9)))
    return path


async def _register(versions: VersionAdmin, version: str, cheap: float) -> None:
    await versions.register(RegisterIn(artifact=constant_artifact(version, cheap, 0.9)), "pytest")


def test_without_a_database_the_default_artifact_is_stable(default_artifact: Path, tmp_path: Path) -> None:
    selector = VersionSelector(None, default_artifact=default_artifact)
    chosen = selector.choose(uuid.uuid4(), "conversation-1")
    assert chosen.version == "default-v0" and chosen.canary is False
    assert chosen.model is not None and chosen.model.version == "default-v0"

    # A missing or corrupt default artifact: the version keeps its file's name, decide falls back (model None).
    corrupt = tmp_path / "router-v9.json"
    corrupt.write_text('{"format": "aiaas-router-artifact/1", "sha256": "00"}')
    for path in (corrupt, tmp_path / "missing.json"):
        chosen = VersionSelector(None, default_artifact=path).choose(uuid.uuid4(), "c")
        assert (chosen.version, chosen.model, chosen.canary) == (path.stem, None, False)


def test_the_canary_bucket_is_uniform_and_fixed() -> None:
    tenant = uuid.uuid4()
    buckets = [canary_bucket("v2", tenant, f"conversation-{i}") for i in range(20_000)]
    assert all(0.0 <= b < 1.0 for b in buckets)
    assert canary_bucket("v2", tenant, "conversation-7") == buckets[7]
    share = sum(b < 0.2 for b in buckets) / len(buckets)
    assert 0.19 < share < 0.21
    # Another canary splits conversations afresh.
    other = [canary_bucket("v3", tenant, f"conversation-{i}") for i in range(20_000)]
    agree = sum((a < 0.2) == (b < 0.2) for a, b in zip(buckets, other, strict=True)) / len(buckets)
    assert agree < 0.75


async def test_selector_follows_the_catalogue(
    sessions: tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]], default_artifact: Path
) -> None:
    runtime, admin = sessions
    versions = VersionAdmin(admin, CanaryEvents(None), default_version="default-v0")
    stable, canary = f"st-{uuid.uuid4().hex[:6]}", f"ca-{uuid.uuid4().hex[:6]}"
    await _register(versions, stable, 0.3)
    await _register(versions, canary, 0.99)

    selector = VersionSelector(runtime, default_artifact=default_artifact, poll_s=3600)
    await selector.start()
    try:
        assert selector.stable.id == "default-v0" and selector.canary is None

        await versions.activate(stable, ActivateIn(mode="stable"), "pytest")
        await versions.activate(canary, ActivateIn(mode="canary", share=0.2), "pytest")
        assert await selector.refresh() is True
        assert await selector.refresh() is False  # nothing changed
        assert selector.stable.id == stable and selector.canary is not None and selector.canary.id == canary
        assert selector.stable.model is not None and selector.stable.model.version == stable
        assert selector.canary.model is not None and selector.canary.model.version == canary
        share = REGISTRY.get_sample_value
        assert share("router_version_serving_share", {"version": canary, "role": "canary"}) == 0.2
        assert share("router_version_serving_share", {"version": stable, "role": "stable"}) == 0.8
        assert share("router_version_loaded", {"version": canary}) == 1.0

        tenant = uuid.uuid4()
        picks = {f"conv-{i}": selector.choose(tenant, f"conv-{i}") for i in range(5000)}
        on_canary = {key for key, pick in picks.items() if pick.canary}
        assert 0.17 < len(on_canary) / len(picks) < 0.23
        assert all(picks[key].version == canary for key in on_canary)
        assert all(pick.version == stable for key, pick in picks.items() if key not in on_canary)
        # Sticky: the same conversation gets the same version every time.
        assert all(selector.choose(tenant, key).canary == pick.canary for key, pick in list(picks.items())[:500])
        # A tenant policy's share replaces the platform's.
        assert not any(selector.choose(tenant, key, share=0.0).canary for key in picks)
        assert all(selector.choose(tenant, key, share=1.0).canary for key in list(picks)[:200])

        # Raising the share only adds conversations to the canary.
        await versions.set_share(canary, 0.5, "pytest")
        assert await selector.refresh() is True
        wider = {key for key in picks if selector.choose(tenant, key).canary}
        assert on_canary < wider and 0.46 < len(wider) / len(picks) < 0.54

        await versions.rollback(canary, "done", "pytest")
        await selector.refresh()
        assert selector.canary is None
        assert not any(selector.choose(tenant, key).canary for key in picks)
        await versions.rollback(stable, "done", "pytest")
        await selector.refresh()
        assert selector.stable.id == "default-v0"
    finally:
        await selector.close()


async def test_an_artifact_that_no_longer_loads_serves_as_fallback(
    sessions: tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]], default_artifact: Path
) -> None:
    runtime, admin = sessions
    versions = VersionAdmin(admin, CanaryEvents(None), default_version="default-v0")
    broken = f"broken-{uuid.uuid4().hex[:6]}"
    await _register(versions, broken, 0.5)
    await versions.activate(broken, ActivateIn(mode="canary", share=1.0), "pytest")
    # The stored bytes rot (a bad restore, a hand edit): the seal no longer matches.
    async with admin_session(admin) as session:
        await session.execute(
            text("update router_versions set artifact = convert_to('{\"oops\": 1}', 'UTF8') where id = :v"),
            {"v": broken},
        )
    selector = VersionSelector(runtime, default_artifact=default_artifact, poll_s=3600)
    await selector.start()
    try:
        chosen = selector.choose(uuid.uuid4(), "any")
        assert (chosen.version, chosen.model, chosen.canary) == (broken, None, True)
        assert REGISTRY.get_sample_value("router_version_loaded", {"version": broken}) == 0.0
    finally:
        await selector.close()
        await versions.rollback(broken, "done", "pytest")
