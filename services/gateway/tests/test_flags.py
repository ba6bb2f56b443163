"""Control-plane flags change the gateway's behaviour live, per tenant, without a restart.

A real control plane process publishes to the JetStream KV bucket the gateway's FlagClient watches:
`streaming_enabled`, `max_tokens_cap` and `model_allowlist` set for one tenant take effect within a
second for it and not for another tenant; the audit log records each change; with the control plane
stopped the gateway keeps the last values.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest

from aiaas_testing import ServiceProcess, free_port

BODY = {"model": "chat", "messages": [{"role": "user", "content": "flags"}]}


@pytest.fixture(scope="module")
def control_plane(run_dir, control_plane_env) -> Iterator[tuple[ServiceProcess, str]]:
    port = free_port()
    env = control_plane_env
    proc = ServiceProcess(
        ["-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=run_dir / f"control-plane-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield proc, f"http://127.0.0.1:{port}"
    proc.stop()


async def _status(http: aiohttp.ClientSession, url: str, auth: dict[str, str], **extra: object) -> tuple[int, dict]:
    async with http.post(f"{url}/v1/chat/completions", json={**BODY, **extra}, headers=auth) as resp:
        text = await resp.text()
        return resp.status, (await resp.json(content_type=None)) if not extra.get("stream") or resp.status != 200 else {
            "text": text
        }


async def _until(check, timeout_s: float = 1.0) -> float:
    """Seconds until `check()` is true; fails after `timeout_s`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout_s, "the flag change did not reach the gateway in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_tenant_flags_change_gateway_behaviour_live(control_plane, gateway_url, make_tenant, admin_headers):
    proc, cp = control_plane
    a, b = await make_tenant(), await make_tenant()
    async with aiohttp.ClientSession() as http:

        async def override(key: str, value: object, reason: str) -> None:
            async with http.put(
                f"{cp}/admin/flags/{key}/tenants/{a.id}", json={"value": value, "reason": reason}, headers=admin_headers
            ) as resp:
                assert resp.status == 200, await resp.text()

        assert (await _status(http, gateway_url, a.auth, stream=True))[0] == 200

        await override("streaming_enabled", False, "test: streaming off for A")

        async def streaming_refused() -> bool:
            status, body = await _status(http, gateway_url, a.auth, stream=True)
            return status == 403 and body["error"]["code"] == "streaming_disabled"

        took = await _until(streaming_refused)
        print(f"\nstreaming_enabled=false reached the gateway in {took * 1000:.0f} ms")
        assert (await _status(http, gateway_url, a.auth))[0] == 200, "non-streaming still served"
        assert (await _status(http, gateway_url, b.auth, stream=True))[0] == 200, "tenant B unaffected"

        await override("max_tokens_cap", 16, "test: cap A")

        async def capped() -> bool:
            status, body = await _status(http, gateway_url, a.auth, max_tokens=64)
            return status == 400 and body["error"]["code"] == "max_tokens_exceeded"

        await _until(capped)
        assert (await _status(http, gateway_url, a.auth, max_tokens=16))[0] == 200
        assert (await _status(http, gateway_url, b.auth, max_tokens=64))[0] == 200

        await override("model_allowlist", ["claude"], "test: A may only use claude")

        async def chat_hidden() -> bool:
            status, body = await _status(http, gateway_url, a.auth)
            return status == 404 and body["error"]["code"] == "model_not_found"

        await _until(chat_hidden)
        assert (await _status(http, gateway_url, b.auth))[0] == 200

        async with http.get(f"{cp}/admin/flags/audit", params={"tenant_id": str(a.id)}, headers=admin_headers) as r:
            assert r.status == 200, await r.text()
            audit = await r.json()
        entries = audit.get("data", audit.get("entries", []))
        reasons = {entry["reason"] for entry in entries}
        assert {"test: streaming off for A", "test: cap A", "test: A may only use claude"} <= reasons

        # The control plane goes away: the gateway keeps serving the last values.
        proc.stop()
        assert (await _status(http, gateway_url, a.auth))[0] == 404
        assert (await _status(http, gateway_url, b.auth))[0] == 200
