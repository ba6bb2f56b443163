"""A gateway SIGKILLed while usage events wait in memory loses none: its successor replays the write-ahead log.

The events are made to linger (GATEWAY_EMIT_LINGER_S=30), so at the kill every answered request's usage
is only in memory and in the write-ahead file; without the file they would be gone. Recovery tells a dead
owner by the file's lock, not the pid it recorded (in containers every gateway is pid 1): shown in-process
with a forged log, and with two gateways each run as pid 1 of a pid namespace of its own (`unshare`).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import aiohttp
import nats
import pytest
from sqlalchemy import text

from aiaas import clock
from aiaas.db import tenant_session
from aiaas.events import DurableEmitter, EventEnvelope, EventPublisher, event_id
from aiaas.events.schemas import USAGE_RECORDED, UsageRecorded
from aiaas.events.wal import WriteAheadLog
from aiaas_testing import ServiceProcess, free_port

from .factories import start_gateway

REQUESTS = 20


async def _rows(runtime_sessions, tenant_id) -> list:
    async with tenant_session(runtime_sessions, tenant_id) as session:
        return (await session.execute(text("select request_id, tokens_in, tokens_out from requests"))).all()


async def test_usage_of_a_killed_gateway_is_replayed_by_the_next(
    tmp_path, run_dir, gateway_base_env, usage_writer, make_tenant, runtime_sessions
):
    env = {**gateway_base_env, "GATEWAY_USAGE_WAL_DIR": str(tmp_path), "GATEWAY_EMIT_LINGER_S": "30"}
    first, url = start_gateway(run_dir, env, "gateway-wal-first")
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
        # Written ahead before each answer's body was sent: every one is in the log by now, after the header.
        logged = wal_file.read_bytes()
        header = json.loads(logged[2 : logged.index(b"\n")])
        assert logged.startswith(b"H ") and wal_file.name == f"gateway-usage-{header['instance']}.wal"
        assert header["pid"] == first.proc.pid
        assert logged.count(b"\nE ") == REQUESTS
    finally:
        first.kill()  # SIGKILL: no drain, the lingering batch dies with the process (also when a check failed)
    await asyncio.sleep(1.0)
    assert await _rows(runtime_sessions, tenant.id) == [], "the events were only in memory and in the log"

    second, _ = start_gateway(run_dir, {**env, "GATEWAY_EMIT_LINGER_S": "0"}, "gateway-wal-second")
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


def _usage_event(tenant, request_id: str) -> EventEnvelope:
    now = clock.now()
    data = {
        "request_id": request_id,
        "api_key_id": str(tenant.key_id),
        "model_alias": "chat",
        "provider": "openai",
        "deployment": "chat-a",
        "upstream_model": "sim-chat-a",
        "stream": False,
        "status": "success",
        "http_status": 200,
        "error_code": None,
        "tokens_in": 7,
        "tokens_out": 11,
        "cost_usd": "0.00002",
        "latency_ms": 3.0,
        "ttft_ms": None,
        "attempts": 1,
        "started_at": now.isoformat(),
        "completed_at": now.isoformat(),
    }
    UsageRecorded.model_validate(data)
    return EventEnvelope(id=event_id(USAGE_RECORDED, request_id), type=USAGE_RECORDED, tenant_id=tenant.id, data=data)


async def test_recovery_goes_by_lock_not_pid(tmp_path, infra_urls, usage_writer, make_tenant, runtime_sessions):
    """A dead instance whose recorded pid is the recoverer's own (every container's gateway is pid 1) is
    replayed; a live instance's log (locked, though by this very process) is left alone."""
    tenant = await make_tenant()
    dead_ids = [f"req_dead_{uuid.uuid4().hex}" for _ in range(3)]
    dead = tmp_path / f"gateway-usage-{uuid.uuid4().hex}.wal"
    owner = {"instance": dead.stem.removeprefix("gateway-usage-"), "pid": os.getpid(), "host": "forged"}
    lines = [b"H " + json.dumps(owner).encode()]
    lines += [b"E " + _usage_event(tenant, rid).to_json() for rid in dead_ids]
    dead.write_bytes(b"\n".join(lines) + b"\n")
    live = WriteAheadLog(tmp_path, "gateway-usage")  # holds its lock, as a running gateway does
    live_id = f"req_live_{uuid.uuid4().hex}"
    live.append(_usage_event(tenant, live_id))

    nc = await nats.connect(infra_urls.nats_url)
    recoverer = WriteAheadLog(tmp_path, "gateway-usage")
    try:
        emitter = DurableEmitter(EventPublisher(nc.jetstream(), timeout_s=2.0), runtime_sessions)
        assert await recoverer.recover(emitter) == len(dead_ids)
    finally:
        recoverer.close(remove=True)
        await nc.close()
    assert not dead.exists(), "a replayed log is deleted"
    assert live.path.exists(), "a live instance's log is not touched"
    live.close(remove=False)

    rows = []
    for _ in range(100):
        rows = await _rows(runtime_sessions, tenant.id)
        if len(rows) >= len(dead_ids):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    rows = await _rows(runtime_sessions, tenant.id)
    assert sorted((row.request_id, row.tokens_in, row.tokens_out) for row in rows) == sorted(
        (rid, 7, 11) for rid in dead_ids
    )


def _as_pid_one(proc: ServiceProcess) -> ServiceProcess:
    """Run the process as pid 1 of a pid namespace of its own, like a container's; SIGKILL reaches it too."""
    prefix = ["unshare", "--pid", "--fork", "--kill-child"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    proc.args = [*prefix, *proc.args]
    return proc


def _pid_namespaces_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = _as_pid_one(ServiceProcess(["-c", "import os; assert os.getpid() == 1"], env={}, log_path=Path()))
    return subprocess.run(probe.args, capture_output=True, timeout=30).returncode == 0  # noqa: S603 - our own probe


@pytest.mark.skipif(not _pid_namespaces_available(), reason="needs unshare of a pid namespace")
async def test_a_killed_pid_one_gateway_is_replayed_by_the_next_pid_one(
    tmp_path, run_dir, gateway_base_env, usage_writer, make_tenant, runtime_sessions
):
    """Both gateways are pid 1 (as in containers): the log records the same pid as its recoverer's."""
    env = {**gateway_base_env, "GATEWAY_USAGE_WAL_DIR": str(tmp_path), "GATEWAY_EMIT_LINGER_S": "30"}
    first, url = _gateway_as_pid_one(run_dir, env, "gateway-pid1-first")
    try:
        tenant = await make_tenant()
        served: dict[str, tuple[int, int]] = {}
        async with aiohttp.ClientSession() as http:
            for i in range(5):
                body = {"model": "chat", "messages": [{"role": "user", "content": f"pid one {i}"}]}
                async with http.post(f"{url}/v1/chat/completions", json=body, headers=tenant.auth) as resp:
                    assert resp.status == 200, await resp.text()
                    usage = (await resp.json())["usage"]
                    served[resp.headers["x-request-id"]] = (usage["prompt_tokens"], usage["completion_tokens"])
        [wal_file] = list(tmp_path.glob("gateway-usage-*.wal"))
        logged = wal_file.read_bytes()
        assert json.loads(logged[2 : logged.index(b"\n")])["pid"] == 1
    finally:
        first.kill()  # SIGKILL to unshare; --kill-child SIGKILLs the gateway
    await _until_unlocked(wal_file)
    assert await _rows(runtime_sessions, tenant.id) == [], "the events were only in memory and in the log"

    second, _ = _gateway_as_pid_one(run_dir, {**env, "GATEWAY_EMIT_LINGER_S": "0"}, "gateway-pid1-second")
    try:
        rows = []
        for _ in range(200):
            rows = await _rows(runtime_sessions, tenant.id)
            if len(rows) >= len(served):
                break
            await asyncio.sleep(0.1)
        assert {row.request_id: (row.tokens_in, row.tokens_out) for row in rows} == served
        assert not wal_file.exists(), "the replayed log is deleted"
    finally:
        second.kill()  # unshare ignores SIGTERM while it waits for its child: a stop() would wait out its timeout


def _gateway_as_pid_one(run_dir, env: dict[str, str], name: str) -> tuple[ServiceProcess, str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=run_dir / f"{name}-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    )
    return _as_pid_one(proc).start(), f"http://127.0.0.1:{port}"


async def _until_unlocked(path) -> None:
    """Wait until the killed gateway (its namespace's pid 1) is gone: the kernel then drops its lock."""
    for _ in range(100):
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await asyncio.sleep(0.05)
        finally:
            os.close(fd)
    raise AssertionError("the killed gateway still holds its log's lock")
