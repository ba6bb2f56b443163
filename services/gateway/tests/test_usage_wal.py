"""A gateway SIGKILLed while usage events wait in memory loses none: its successor replays the write-ahead log.

The events are made to linger (GATEWAY_EMIT_LINGER_S=30), so at the kill every answered request's usage
is only in memory and in the write-ahead file; without the file they would be gone.
"""

from __future__ import annotations

import asyncio

import aiohttp
from sqlalchemy import text

from aiaas.db import tenant_session
from aiaas.testing import ServiceProcess, free_port

REQUESTS = 20


def _gateway(run_dir, env: dict[str, str], name: str) -> tuple[ServiceProcess, str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=run_dir / f"{name}-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    return proc, f"http://127.0.0.1:{port}"


async def _rows(runtime_sessions, tenant_id) -> list:
    async with tenant_session(runtime_sessions, tenant_id) as session:
        return (await session.execute(text("select request_id, tokens_in, tokens_out from requests"))).all()


async def test_usage_of_a_killed_gateway_is_replayed_by_the_next(
    tmp_path, run_dir, gateway_base_env, usage_writer, make_tenant, runtime_sessions
):
    env = {**gateway_base_env, "GATEWAY_USAGE_WAL_DIR": str(tmp_path), "GATEWAY_EMIT_LINGER_S": "30"}
    first, url = _gateway(run_dir, env, "gateway-wal-first")
    try:
        tenant = await make_tenant()
        served: dict[str, tuple[int, int]] = {}
        async with aiohttp.ClientSession() as http:
            for i in range(REQUESTS):
                body = {"model": "chat", "messages": [{"role": "user", "content": f"write ahead {i}"}]}
                async with http.post(f"{url}/v1/chat/completions", json=body, headers=tenant.auth) as resp:
                    assert resp.status == 200, await resp.text()
                    usage = (await resp.json())["usage"]
                    served[resp.headers["x-request-id"]] = (usage["prompt_tokens"], usage["completion_tokens"])
        [wal_file] = list(tmp_path.glob("gateway-usage-*.wal"))
        # The gateway answers first and appends to the log right after, in the same task: on a busy machine
        # the client can read its reply before the last append ran.
        for _ in range(100):
            logged = wal_file.read_bytes()
            if logged.count(b"\nE ") + logged.startswith(b"E ") >= REQUESTS:
                break
            await asyncio.sleep(0.05)
        assert logged.count(b"\nE ") + logged.startswith(b"E ") == REQUESTS
    finally:
        first.kill()  # SIGKILL: no drain, the lingering batch dies with the process (also when a check failed)
    await asyncio.sleep(1.0)
    assert await _rows(runtime_sessions, tenant.id) == [], "the events were only in memory and in the log"

    second, _ = _gateway(run_dir, {**env, "GATEWAY_EMIT_LINGER_S": "0"}, "gateway-wal-second")
    try:
        rows = []
        for _ in range(200):
            rows = await _rows(runtime_sessions, tenant.id)
            if len(rows) >= REQUESTS:
                break
            await asyncio.sleep(0.1)
        assert {row.request_id: (row.tokens_in, row.tokens_out) for row in rows} == served
        assert not wal_file.exists(), "the replayed log is deleted"
    finally:
        second.stop()
