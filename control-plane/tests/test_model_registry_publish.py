"""Model registry -> JetStream KV bucket `model_registry`: every PUT is published with its version;
a publish lost to a NATS outage keeps its commit and is repaired by the republish (at start and
every reconcile interval). Real Postgres and NATS; aliases are unique per test and cleaned up."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import orjson
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from aiaas_testing import NatsServer

from .factories import call, cp_env, start_control_plane

BUCKET = "model_registry"


def _model(alias: str, model: str = "sim-gpt-small") -> dict[str, Any]:
    return {
        "name": alias,
        "deployments": [
            {
                "name": "primary",
                "provider": "openai",
                "model": model,
                "base_url": "http://127.0.0.1:8090/v1",
                "credentials_ref": "sim",
                "input_usd_per_1k": "0.5",
                "output_usd_per_1k": "1.5",
            }
        ],
    }


async def _kv_document(nats_url: str, alias: str) -> dict[str, Any] | None:
    """The alias's document in the bucket, None when absent (one short-lived connection)."""
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(BUCKET)
        entry = await kv.get(alias)
    except (BucketNotFoundError, KeyNotFoundError):
        return None
    finally:
        await nc.close()
    return orjson.loads(entry.value) if entry.value else None  # type: ignore[no-any-return]


async def _until_version(nats_url: str, alias: str, version: int, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        doc = await _kv_document(nats_url, alias)
        if doc is not None and doc["version"] == version:
            return doc
        assert time.monotonic() < deadline, f"{alias} v{version} not in KV after {timeout_s}s (has {doc})"
        await asyncio.sleep(0.1)


async def test_put_publishes_the_current_version(http, cp_url, infra_urls, new_model_alias, admin_key) -> None:
    alias = new_model_alias()
    status, v1 = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", _model(alias))
    assert status == 201 and v1["version"] == 1 and v1["published"] is True
    doc = await _kv_document(infra_urls.nats_url, alias)
    assert doc is not None
    assert doc["alias"] == alias and doc["version"] == 1
    assert doc["config"] == v1["config"]  # the stored config, optional fields included
    unset = {"timeout_s": None, "first_byte_timeout_s": None}
    assert doc["config"]["deployments"][0] == {**_model(alias)["deployments"][0], **unset}
    assert doc["created_by"] == admin_key.name  # the calling admin key's name

    status, v2 = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", _model(alias, "sim-gpt-large"))
    assert status == 201 and v2["version"] == 2 and v2["published"] is True
    doc = await _kv_document(infra_urls.nats_url, alias)
    assert doc is not None and doc["version"] == 2
    assert doc["config"]["deployments"][0]["model"] == "sim-gpt-large"


async def test_alias_that_is_no_kv_key_is_refused(http, cp_url) -> None:
    for alias in ("bad..alias", "bad."):
        status, body = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", _model(alias))
        assert status == 400 and body["error"]["code"] == "invalid_alias", body


async def _put_during_outage(
    http: Any, run_dir: Path, infra_urls: Any, alias: str, interval_s: str
) -> tuple[NatsServer, Callable[[], Awaitable[None]]]:
    """A control plane on a private NATS; NATS stopped; a PUT commits but is not published."""
    server = NatsServer(run_dir / f"nats-{uuid.uuid4().hex[:6]}").start()
    proc, url = start_control_plane(
        run_dir,
        cp_env(infra_urls, "flags", NATS_URL=server.url, CONTROL_PLANE_RECONCILE_INTERVAL_S=interval_s),
    )
    status, v1 = await call(http, "PUT", f"{url}/admin/models/{alias}", _model(alias))
    assert status == 201 and v1["published"] is True
    server.stop()
    status, v2 = await call(http, "PUT", f"{url}/admin/models/{alias}", _model(alias, "sim-gpt-large"))
    assert status == 201 and v2["version"] == 2 and v2["published"] is False  # committed, not published
    status, current = await call(http, "GET", f"{url}/admin/models/{alias}")
    assert current["version"] == 2

    async def stop() -> None:
        proc.stop()

    return server, stop


async def test_restart_republishes_a_lost_publish(http, run_dir, infra_urls, new_model_alias) -> None:
    alias = new_model_alias()
    # No periodic round during the test: only the start-up republish can repair the key.
    server, stop = await _put_during_outage(http, run_dir, infra_urls, alias, "3600")
    try:
        await stop()
        server.start()
        assert (await _kv_document(server.url, alias))["version"] == 1  # type: ignore[index]
        proc, _ = start_control_plane(
            run_dir, cp_env(infra_urls, "flags", NATS_URL=server.url, CONTROL_PLANE_RECONCILE_INTERVAL_S="3600")
        )
        try:
            doc = await _until_version(server.url, alias, 2, 10.0)
            assert doc["config"]["deployments"][0]["model"] == "sim-gpt-large"
        finally:
            proc.stop()
    finally:
        server.stop()


async def test_running_control_plane_repairs_after_nats_returns(http, run_dir, infra_urls, new_model_alias) -> None:
    alias = new_model_alias()
    server, stop = await _put_during_outage(http, run_dir, infra_urls, alias, "1")
    try:
        server.start()
        waited = time.monotonic()
        await _until_version(server.url, alias, 2, 15.0)
        print(f"\nlost publish repaired {time.monotonic() - waited:.2f}s after NATS came back")
    finally:
        await stop()
        server.stop()
