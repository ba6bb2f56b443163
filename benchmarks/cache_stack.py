"""The stack `cache_router.py` measures: simulator, gateway (+ usage writer), router, tenants and their cache flags.

| process | core |
| --- | --- |
| gateway (one uvicorn worker), router (one worker; `--router-core` moves it) | SERVER_CORE (1) |
| provider simulator (zero delay), usage writer, wrk / this script | LOAD_CORE (0) |
| control plane (only while the cache flags are set, then stopped) | LOAD_CORE (0) |

The simulator is off the server core on purpose: the baseline "same request through the zero-delay simulator"
then pays only the gateway's own work for the provider call, not the simulator's CPU as well.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway_stack import PYTHON, create_bench_tenant, set_bench_quota, subscribe_unlimited_plan
from procs import LOAD_CORE, SERVER_CORE, ProcessSet, free_port, wait_http

__all__ = [
    "CHEAP_ALIAS",
    "SIM_CHEAP_MODEL",
    "STRONG_ALIAS",
    "Stack",
    "Tenant",
    "http_json",
    "purge_router_events",
    "start_stack",
    "stop_stack",
    "histogram",
    "wait_cache_on",
]

# Aliases as the gateway's defaults name them (the router's platform policy maps its tiers to these).
CHEAP_ALIAS = "gpt-4o-mini"
STRONG_ALIAS = "gpt-4o"
SIM_CHEAP_MODEL = "sim-gpt-small"
SIM_STRONG_MODEL = "sim-gpt-large"


@dataclass
class Tenant:
    name: str
    id: str
    key: str
    cache: bool
    scopes: list[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Stack:
    sim_url: str
    gateway_url: str
    gateway_pid: int
    router_url: str | None
    router_pid: int | None
    tenants: dict[str, Tenant] = field(default_factory=dict)
    admin_key_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gateway_metrics_url: str | None = None


def http_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], Any]:
    """One request; (status, lower-cased headers, parsed JSON body or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, raw, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        status, raw, hdrs = exc.code, exc.read(), exc.headers
    text = raw.decode(errors="replace")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    return status, {k.lower(): v for k, v in hdrs.items()}, parsed


def _models_yaml(sim_url: str) -> str:
    def alias(name: str, model: str, price_in: str, price_out: str) -> str:
        return (
            f"  - name: {name}\n"
            f"    deployments: [{{name: bench-{model}, provider: openai, model: {model}, "
            f'base_url: "{sim_url}/v1", input_usd_per_1k: "{price_in}", output_usd_per_1k: "{price_out}"}}]\n'
        )

    return (
        "aliases:\n"
        + alias(CHEAP_ALIAS, SIM_CHEAP_MODEL, "0.00015", "0.0006")
        + alias(STRONG_ALIAS, SIM_STRONG_MODEL, "0.0025", "0.01")
    )


async def _admin_key(env: dict[str, str], name: str, revoke: bool = False) -> str:
    from aiaas.admin_keys import create_admin_key, revoke_admin_key
    from aiaas.db import admin_session, create_engine, session_factory

    engine = create_engine(env["MIGRATION_DATABASE_URL"], pool_size=1)
    try:
        async with admin_session(session_factory(engine)) as session:
            if revoke:
                await revoke_admin_key(session, name)
                return ""
            _, plaintext = await create_admin_key(session, name=name, created_by="benchmarks/cache_router.py")
            return plaintext
    finally:
        await engine.dispose()


def router_available() -> bool:
    """The router service is installed (services/router with its entry)."""
    try:
        import router.__main__  # noqa: F401
        import router.app  # noqa: F401
    except ImportError:
        return False
    return True


def _child_env(env: dict[str, str], workdir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, **env, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **extra}


def _start_router(
    procs: ProcessSet, workdir: Path, env: dict[str, str], key_name: str, core: int | None
) -> tuple[str, int]:
    port = free_port()
    child = _child_env(
        env,
        workdir,
        ROUTER_SERVICE_KEY_NAMES=key_name,
        ROUTER_WAL_DIR=str(workdir / "router-wal"),
        # The committed default artifact serves, not a version other suites activated in the shared router_versions.
        ROUTER_VERSIONS_FROM_DB="false",
        ROUTER_METRICS_PORT=str(free_port()),
        OTEL_TRACES_EXPORTER="none",
    )
    proc, log = procs.start(
        "router", [PYTHON, "-m", "router", "--host", "127.0.0.1", "--port", str(port)], core, child, workdir
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health/ready", timeout_s=120, proc=proc, log=log)
    return base, proc.pid


def _start_gateway(
    procs: ProcessSet, workdir: Path, env: dict[str, str], sim_url: str, router_url: str | None, service_key: str
) -> tuple[str, int, str]:
    models = workdir / "cache-bench-models.yaml"
    models.write_text(_models_yaml(sim_url))
    port = free_port()
    extra = {
        "GATEWAY_MODELS_FILE": str(models),
        "GATEWAY_USAGE_WRITER_METRICS_PORT": str(free_port()),
        "GATEWAY_METRICS_PORT": str(free_port()),
        "GATEWAY_USAGE_WAL_DIR": str(workdir / "gateway-wal"),
        "OTEL_TRACES_EXPORTER": "none",
        "GATEWAY_AUTO_TIER_ALIASES": json.dumps({"cheap": CHEAP_ALIAS, "strong": STRONG_ALIAS}),
    }
    if router_url:
        extra["GATEWAY_ROUTER_URL"] = router_url
        extra["GATEWAY_ROUTER_SERVICE_TOKEN"] = service_key
    child = _child_env(env, workdir, **extra)
    child.pop("OPENAI_API_KEY", None)
    child.pop("ANTHROPIC_API_KEY", None)
    writer, writer_log = procs.start("usage-writer", [PYTHON, "-m", "gateway.usage_writer"], LOAD_CORE, child, workdir)
    gateway, log = procs.start(
        "gateway", [PYTHON, "-m", "gateway", "--host", "127.0.0.1", "--port", str(port)], SERVER_CORE, child, workdir
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health/ready", timeout_s=120, proc=gateway, log=log)
    wait_http(
        f"http://127.0.0.1:{extra['GATEWAY_USAGE_WRITER_METRICS_PORT']}/metrics",
        timeout_s=60,
        proc=writer,
        log=writer_log,
    )
    return base, gateway.pid, f"http://127.0.0.1:{extra['GATEWAY_METRICS_PORT']}/metrics"


def _tenant(env: dict[str, str], name: str, cache: bool, with_router: bool) -> Tenant:
    scopes = ["chat", "router"] if with_router else ["chat"]
    try:
        tenant_id, key = create_bench_tenant(env, f"Bench {name}", f"bench-{name}", scopes)
    except Exception:  # the `router` scope may not exist yet
        scopes = ["chat"]
        tenant_id, key = create_bench_tenant(env, f"Bench {name}", f"bench-{name}", scopes)
    asyncio.run(subscribe_unlimited_plan(env, tenant_id))
    asyncio.run(set_bench_quota(env["REDIS_URL"], tenant_id))
    return Tenant(name, tenant_id, key, cache, scopes)


def _set_cache_flags(procs: ProcessSet, workdir: Path, env: dict[str, str], stack: Stack, admin_key: str) -> None:
    """`cache.enabled` = true for the cache tenants, through the control plane's admin API (then stopped)."""
    port = free_port()
    proc, log = procs.start(
        "control-plane",
        [PYTHON, "-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        LOAD_CORE,
        _child_env(env, workdir),
        workdir,
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {admin_key}"}
    try:
        wait_http(f"{base}/health/ready", timeout_s=90, proc=proc, log=log)
        for tenant in stack.tenants.values():
            if not tenant.cache:
                continue
            url = f"{base}/admin/flags/cache.enabled/tenants/{tenant.id}"
            status, _, body = http_json("PUT", url, {"value": True, "reason": "benchmark"}, auth)
            if status == 404:
                stack.notes.append("flag cache.enabled was not seeded: the bench created it (default false)")
                http_json(
                    "POST",
                    f"{base}/admin/flags",
                    {"key": "cache.enabled", "type": "boolean", "default": False, "reason": "benchmark"},
                    auth,
                )
                status, _, body = http_json("PUT", url, {"value": True, "reason": "benchmark"}, auth)
            if status != 200:
                raise RuntimeError(f"cache.enabled for {tenant.name}: {status} {body}")
    finally:
        procs.stop(proc)


def wait_cache_on(stack: Stack, tenant: Tenant, timeout_s: float = 20) -> None:
    """Until the gateway answers a repeat from the cache (the flag has reached its FlagClient)."""
    body = {
        "model": CHEAP_ALIAS,
        "messages": [{"role": "user", "content": f"cache probe {secrets.token_hex(6)}"}],
        "temperature": 0,
    }
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        status, headers, last = http_json("POST", f"{stack.gateway_url}/v1/chat/completions", body, tenant.auth)
        if status == 200 and headers.get("x-cache") == "exact":
            return
        time.sleep(0.3)
    raise RuntimeError(f"tenant {tenant.name}: no exact cache hit within {timeout_s}s (last reply {str(last)[:300]})")


def start_stack(
    procs: ProcessSet,
    workdir: Path,
    env: dict[str, str],
    tenants: dict[str, bool],
    router_core: int | None = SERVER_CORE,
) -> Stack:
    """Simulator, router (when installed), gateway; `tenants` = name -> cache on; flags set and seen."""
    sim_port = free_port()
    sim, sim_log = procs.start(
        "provider-sim",
        [PYTHON, "-m", "provider_sim", "--host", "127.0.0.1", "--port", str(sim_port)],
        LOAD_CORE,
        _child_env(env, workdir),
        workdir,
    )
    sim_url = f"http://127.0.0.1:{sim_port}"
    wait_http(f"{sim_url}/health", timeout_s=60, proc=sim, log=sim_log)
    key_name = f"bench-gateway-{secrets.token_hex(4)}"
    service_key = asyncio.run(_admin_key(env, key_name))
    names = [key_name]
    router_url = router_pid = None
    notes = []
    if router_available():
        router_url, router_pid = _start_router(procs, workdir, env, key_name, router_core)
    else:
        notes.append("router service not installed: decide and auto not measured")
    gateway_url, gateway_pid, metrics_url = _start_gateway(procs, workdir, env, sim_url, router_url, service_key)
    stack = Stack(sim_url, gateway_url, gateway_pid, router_url, router_pid, admin_key_names=names, notes=notes)
    stack.gateway_metrics_url = metrics_url
    for name, cache in tenants.items():
        stack.tenants[name] = _tenant(env, name, cache, router_url is not None)
    if any(tenants.values()):
        flags_key_name = f"bench-flags-{secrets.token_hex(4)}"
        flags_key = asyncio.run(_admin_key(env, flags_key_name))
        names.append(flags_key_name)
        _set_cache_flags(procs, workdir, env, stack, flags_key)
    return stack


def stop_stack(env: dict[str, str], stack: Stack) -> None:
    """Empty the bench tenants' caches, revoke the run's admin keys."""
    for tenant in stack.tenants.values():
        if tenant.cache:
            try:
                http_json("DELETE", f"{stack.gateway_url}/v1/cache", None, tenant.auth, timeout=10)
            except OSError as exc:
                print(f"[cache-bench] cache of {tenant.name} not emptied: {exc}", file=sys.stderr)
    for name in stack.admin_key_names:
        asyncio.run(_admin_key(env, name, revoke=True))


def purge_router_events(env: dict[str, str], tenant_id: str) -> int:
    """Drop the bench tenant's `router.decision.made` events (no router consumer runs in the bench; left in the
    stream they would be the backlog of the next test run's consumer on this shared infrastructure)."""
    import nats
    from nats.js.errors import NotFoundError

    async def purge() -> int:
        nc = await nats.connect(env["NATS_URL"])
        try:
            js = nc.jetstream()
            try:
                before = (await js.stream_info("ROUTER")).state.messages
            except NotFoundError:
                return 0
            await js.purge_stream("ROUTER", subject=f"router.decision.made.{tenant_id}")
            return int(before - (await js.stream_info("ROUTER")).state.messages)
        finally:
            await nc.close()

    return asyncio.run(purge())


def histogram(metrics_url: str | None, name: str) -> dict[str, float]:
    """`name`'s `_sum`, `_count` and cumulative buckets (le -> count) from a Prometheus text endpoint; {} if absent."""
    if not metrics_url:
        return {}
    try:
        with urllib.request.urlopen(metrics_url, timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        key, _, value = line.rpartition(" ")
        if key == f"{name}_sum" or key == f"{name}_count":
            out[key[len(name) + 1 :]] = float(value)
        elif key.startswith(f"{name}_bucket{{") and 'le="' in key:
            out["le_" + key.split('le="', 1)[1].split('"', 1)[0]] = float(value)
    return out
