"""`/admin/router/versions` on the router admin listener, against a database of its own and a private NATS.

Register (the artifact must load), activate as canary or stable, share, roll back; the history of every change;
canary events on NATS; the app role reads the catalogue but cannot change it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aiaas.db import create_engine, session_factory
from aiaas.events.schemas import RouterCanaryOutcome
from aiaas_testing import InfraUrls, NatsServer, serve_asgi
from router.admin import create_app
from router.config import RouterAdminSettings

from .canary_factories import Database, constant_artifact, throwaway_database

BASE = "/admin/router/versions"


@pytest.fixture(scope="module")
def db(infra_urls: InfraUrls) -> Iterator[Database]:
    with throwaway_database(infra_urls, "versions") as database:
        yield database


@dataclass
class Admin:
    url: str
    http: aiohttp.ClientSession
    headers: dict[str, str]

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, dict[str, Any]]:
        headers = kw.pop("headers", self.headers)
        async with self.http.request(method, self.url + path, json=body, headers=headers, **kw) as resp:
            return resp.status, await resp.json()


@pytest.fixture(scope="module")
async def admin(
    db: Database, private_nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Admin]:
    default = tmp_path_factory.mktemp("versions") / "default.json"
    default.write_text(json.dumps(constant_artifact("default-v0", 0.8, 0.9)))
    settings = RouterAdminSettings(
        service_name="router-admin-test",
        admin_database_url=db.admin_url,
        database_url=db.runtime_url,
        nats_url=private_nats.url,
        artifact_path=str(default),
        # The monitor stays out of these tests (tests/test_canary_monitor.py drives it).
        canary_interval_s=3600,
        tracing=False,
        log_json=False,
    )
    async with serve_asgi(create_app(settings)) as url, aiohttp.ClientSession() as http:
        yield Admin(url, http, db.admin_headers)


@pytest.fixture
async def canary_events(private_nats: NatsServer) -> AsyncIterator[list[RouterCanaryOutcome]]:
    """Every router.canary.* event published while the test runs (core subscription on the subjects)."""
    nc = await nats.connect(private_nats.url)
    seen: list[RouterCanaryOutcome] = []
    types: list[str] = []

    async def on_message(msg: Any) -> None:
        envelope = json.loads(msg.data)
        types.append(envelope["type"])
        assert envelope["tenant_id"] == "00000000-0000-0000-0000-000000000000"
        seen.append(RouterCanaryOutcome.model_validate(envelope["data"]))

    await nc.subscribe("router.canary.>", cb=on_message)
    yield seen
    await nc.drain()


async def _wait_events(events: list[RouterCanaryOutcome], count: int) -> None:
    for _ in range(200):
        if len(events) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} canary events, saw {len(events)}")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def _register(admin: Admin, version: str, cheap: float = 0.5, strong: float = 0.9) -> dict[str, Any]:
    status, body = await admin.call("POST", BASE, {"artifact": constant_artifact(version, cheap, strong, auc=0.7)})
    assert status == 201, body
    return body


async def _end_serving(admin: Admin) -> None:
    """Roll back whatever serves, so each test starts from the default artifact."""
    _, listing = await admin.call("GET", BASE)
    for row in listing["data"]:
        if row["status"] in ("canary", "stable"):
            status, body = await admin.call("POST", f"{BASE}/{row['id']}/rollback", {"reason": "test reset"})
            assert status == 200, body


def _assert_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"] and body["error"]["type"]


async def test_register_stores_the_artifact_and_its_report(admin: Admin) -> None:
    version = _name("good")
    document = constant_artifact(version, 0.4, 0.95, auc=0.81, ece=0.03)
    status, body = await admin.call("POST", BASE, {"artifact": document})
    assert status == 201, body
    assert body["id"] == version and body["status"] == "registered" and body["share"] == 0.0
    assert body["sha256"] == document["sha256"]
    assert body["eval_report"] == {"auc": 0.81, "ece": 0.03}
    assert body["tiers"] == ["cheap", "strong"]
    assert body["created_by"].startswith("canary-admin-")
    assert body["artifact_bytes"] > 100

    # The same artifact again is the same version (200), re-indented too.
    again, same = await admin.call("POST", BASE, {"artifact": document})
    assert again == 200 and same["id"] == version and same["created_at"] == body["created_at"]

    # Another artifact under a taken version name: 409.
    clash, error = await admin.call("POST", BASE, {"artifact": constant_artifact(version, 0.3, 0.9)})
    assert clash == 409
    _assert_error(error, "router_version_exists")

    status, one = await admin.call("GET", f"{BASE}/{version}")
    assert status == 200 and one["history"][0]["to_status"] == "registered"
    status, listing = await admin.call("GET", BASE, params={"status": "registered"})
    assert status == 200 and version in {row["id"] for row in listing["data"]}


async def test_register_from_a_path(admin: Admin, tmp_path: Path) -> None:
    version = _name("file")
    path = tmp_path / "artifact.json"
    path.write_text(json.dumps(constant_artifact(version, 0.6, 0.9)))
    status, body = await admin.call("POST", BASE, {"artifact_path": str(path)})
    assert status == 201 and body["id"] == version


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda d: d.update(sha256="0" * 64), "invalid_artifact"),  # tampered: the seal does not match
        (lambda d: d.update(kind="forest"), "invalid_artifact"),
        (lambda d: d.update(format="something-else/9"), "invalid_artifact"),
        (lambda d: d["model"]["p"].update(cheap=1.7), "invalid_artifact"),
    ],
)
async def test_a_bad_artifact_is_refused_with_422(admin: Admin, mutate: Any, code: str) -> None:
    document = constant_artifact(_name("bad"), 0.5, 0.9)
    mutate(document)
    status, body = await admin.call("POST", BASE, {"artifact": document})
    assert status == 422, body
    _assert_error(body, code)


async def test_bad_register_bodies_and_callers(admin: Admin, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("not json at all")
    cases = [
        ({"artifact_path": str(junk)}, 422, "invalid_artifact"),
        ({"artifact_path": str(tmp_path / "missing.json")}, 422, "artifact_unreadable"),
        ({}, 422, None),
        ({"artifact": constant_artifact("x", 0.5, 0.9), "artifact_path": "/tmp/x"}, 422, None),  # noqa: S108
        ({"artifact": "a string"}, 422, None),
        # Text Postgres cannot store is refused at the edge, never a 500.
        ({"artifact_path": "/tmp/a\u0000b"}, 422, None),  # noqa: S108
        ({"artifact": constant_artifact("nul", 0.5, 0.9, note="a\u0000b")}, 422, None),
        ({"artifact": constant_artifact("big", 0.5, 0.9, n=2**70)}, 422, None),
    ]
    for body, expected, code in cases:
        status, reply = await admin.call("POST", BASE, body)
        assert status == expected, (body, reply)
        assert "error" in reply
        if code:
            _assert_error(reply, code)
    status, reply = await admin.call("POST", BASE, {"artifact": {}}, headers={})
    assert status == 401 and reply["error"]["code"] == "invalid_admin_key"
    status, reply = await admin.call("GET", BASE, headers={"Authorization": "Bearer sk-aiaas-nope"})
    assert status == 401
    status, reply = await admin.call("GET", f"{BASE}/no-such-version")
    assert status == 404 and reply["error"]["code"] == "router_version_not_found"
    status, reply = await admin.call("GET", f"{BASE}/Not%20An%20Id")
    assert status == 422
    status, reply = await admin.call("POST", f"{BASE}/no-such-version/rollback", {"reason": "nul\u0000"})
    assert status == 422 and "error" in reply


async def test_canary_lifecycle_and_its_rollback_event(admin: Admin, canary_events: list[RouterCanaryOutcome]) -> None:
    await _end_serving(admin)
    first, second = _name("canary"), _name("canary")
    await _register(admin, first)
    await _register(admin, second)

    status, body = await admin.call("POST", f"{BASE}/{first}/activate", {"mode": "canary", "share": 0.2})
    assert status == 200 and body["status"] == "canary" and body["share"] == 0.2 and body["activated_at"]
    status, body = await admin.call("POST", f"{BASE}/{second}/activate", {"mode": "canary", "share": 0.1})
    assert status == 409
    _assert_error(body, "canary_running")
    status, body = await admin.call("PUT", f"{BASE}/{first}/share", {"share": 0.35})
    assert status == 200 and body["share"] == 0.35
    status, body = await admin.call("PUT", f"{BASE}/{second}/share", {"share": 0.35})
    assert status == 409
    _assert_error(body, "not_canary")
    for bad in ({"share": 0}, {"share": 1.5}, {"share": "x"}, {}):
        status, body = await admin.call("PUT", f"{BASE}/{first}/share", bad)
        assert status == 422, bad
    status, body = await admin.call("POST", f"{BASE}/{second}/activate", {"mode": "canary"})
    assert status == 422  # a canary needs its share

    _, listing = await admin.call("GET", BASE)
    assert listing["serving"] == {
        "stable": "default-v0",
        "stable_is_default_artifact": True,
        "canary": first,
        "canary_share": 0.35,
    }

    rollbacks = REGISTRY.get_sample_value("router_canary_rollbacks_total", {"trigger": "admin"}) or 0.0
    status, body = await admin.call("POST", f"{BASE}/{first}/rollback", {"reason": "looks off"})
    assert status == 200 and body["status"] == "rolled_back" and body["share"] == 0.0
    assert REGISTRY.get_sample_value("router_canary_rollbacks_total", {"trigger": "admin"}) == rollbacks + 1
    assert body["status_reason"] == "looks off"
    await _wait_events(canary_events, 1)
    event = canary_events[0]
    assert (event.version, event.stable_version, event.trigger, event.share) == (first, "default-v0", "admin", 0.35)
    assert event.actor.startswith("canary-admin-") and event.comparisons == [] and event.retired_version is None

    status, body = await admin.call("POST", f"{BASE}/{first}/rollback")
    assert status == 409
    _assert_error(body, "not_serving")
    _, one = await admin.call("GET", f"{BASE}/{first}")
    assert [(h["from_status"], h["to_status"]) for h in one["history"]] == [
        (None, "registered"),
        ("registered", "canary"),
        ("canary", "canary"),
        ("canary", "rolled_back"),
    ]
    # A rolled-back version may run as canary again (a fresh run).
    status, body = await admin.call("POST", f"{BASE}/{first}/activate", {"mode": "canary", "share": 0.05})
    assert status == 200 and body["status"] == "canary"
    await _end_serving(admin)


async def test_stable_promotion_retires_the_old_and_rollback_restores_it(
    admin: Admin, canary_events: list[RouterCanaryOutcome]
) -> None:
    await _end_serving(admin)
    old, new = _name("stable"), _name("stable")
    await _register(admin, old)
    await _register(admin, new)
    status, body = await admin.call("POST", f"{BASE}/{old}/activate", {"mode": "stable"})
    assert status == 200 and body["status"] == "stable" and body["share"] == 0.0
    status, body = await admin.call("POST", f"{BASE}/{old}/activate", {"mode": "stable"})
    assert status == 409
    status, body = await admin.call("POST", f"{BASE}/{new}/activate", {"mode": "stable", "share": 0.5})
    assert status == 422

    # The canary promoted by hand: the old stable is retired, `router.canary.promoted` says so.
    await admin.call("POST", f"{BASE}/{new}/activate", {"mode": "canary", "share": 0.25})
    status, body = await admin.call("POST", f"{BASE}/{new}/activate", {"mode": "stable", "reason": "looks good"})
    assert status == 200 and body["status"] == "stable"
    _, previous = await admin.call("GET", f"{BASE}/{old}")
    assert previous["status"] == "retired"
    await _wait_events(canary_events, 1)
    promoted = canary_events[0]
    assert (promoted.version, promoted.stable_version, promoted.retired_version) == (new, old, old)
    assert promoted.trigger == "admin" and promoted.share == 0.25

    # Rolling back the stable version brings back the one it replaced.
    status, body = await admin.call("POST", f"{BASE}/{new}/rollback", {"reason": "bad"})
    assert status == 200 and body["status"] == "rolled_back"
    _, restored = await admin.call("GET", f"{BASE}/{old}")
    assert restored["status"] == "stable"
    assert restored["history"][-1]["reason"] == f"restored: {new} rolled back"
    await _end_serving(admin)
    _, listing = await admin.call("GET", BASE)
    assert listing["serving"]["stable_is_default_artifact"] is True


async def test_the_app_role_reads_the_catalogue_but_cannot_change_it(admin: Admin, db: Database) -> None:
    version = _name("ro")
    await _register(admin, version)
    engine = create_engine(db.runtime_url, pool_size=1)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            found = (
                await session.execute(text("select id from router_versions where id = :v"), {"v": version})
            ).scalar_one()
            assert found == version
        for statement in (
            "update router_versions set status = 'stable', activated_at = now() where id = :v",
            "delete from router_versions where id = :v",
            "select count(*) from router_version_transitions where version_id = :v",
        ):
            async with sessions() as session:
                with pytest.raises(DBAPIError, match="permission denied"):
                    await session.execute(text(statement), {"v": version})
    finally:
        await engine.dispose()
