"""Analytics test fixtures: a private NATS, the real consumer and API processes, usage-event factories.

The analytics tests get their own nats-server (session-scoped): the rebuild test replays
whole streams, which must hold only this session's events, and nothing here disturbs the
shared broker other engineers' tests use. Postgres is the shared one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from nats.js import JetStreamContext

from aiaas.events import CONSUMERS, EventEnvelope, EventPublisher, ensure_topology
from aiaas.events.schemas import UsageRecorded
from aiaas_testing import InfraUrls, NatsServer, ServiceProcess, free_port
from aiaas_testing.events import usage_recorded


@dataclass(frozen=True)
class Stack:
    api_url: str
    admin_url: str  # the admin listener, `python -m analytics.admin`
    nats_url: str
    metrics_url: str
    env: dict[str, str]  # the tenant API's and the consumer's (app_runtime only)
    admin_env: dict[str, str]  # the admin listener's and `rebuild`'s (platform_admin)
    run_dir: Path

    def url(self, path: str) -> str:
        """`path` on the listener that serves it: /admin/* on the admin listener, the rest on the API."""
        return (self.admin_url if path.startswith("/admin/") else self.api_url) + path


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("analytics-run")


@pytest.fixture(scope="session")
def private_nats(run_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(run_dir / "nats").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def js(private_nats: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(private_nats.url)
    jsc = nc.jetstream()
    await ensure_topology(jsc, consumers=())
    yield jsc
    await nc.close()


@pytest.fixture(scope="session")
def stack(run_dir: Path, infra_urls: InfraUrls, private_nats: NatsServer, js: JetStreamContext) -> Iterator[Stack]:
    """The consumer (`python -m analytics.consumer`), the API (`python -m analytics`) and the admin listener
    (`python -m analytics.admin`) as processes."""
    metrics_port, api_port, admin_port = free_port(), free_port(), free_port()
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": private_nats.url,
        "ANALYTICS_CONSUMER_METRICS_PORT": str(metrics_port),
        "ANALYTICS_AUTH_CACHE_TTL_S": "0.5",
        "ANALYTICS_CONSUMER_BATCH_SIZE": "200",
        "LOG_LEVEL": "WARNING",
    }
    consumer = ServiceProcess(["-m", "analytics.consumer"], env=env, log_path=run_dir / "consumer.log").start()
    api = ServiceProcess(
        ["-m", "analytics", "--host", "127.0.0.1", "--port", str(api_port)],
        env=env,
        log_path=run_dir / "api.log",
        ready_url=f"http://127.0.0.1:{api_port}/health/ready",
    ).start()
    admin_env = {**env, "ADMIN_DATABASE_URL": infra_urls.admin_database_url}
    admin = ServiceProcess(
        ["-m", "analytics.admin", "--host", "127.0.0.1", "--port", str(admin_port)],
        env=admin_env,
        log_path=run_dir / "admin.log",
        ready_url=f"http://127.0.0.1:{admin_port}/health/ready",
    ).start()
    yield Stack(
        api_url=f"http://127.0.0.1:{api_port}",
        admin_url=f"http://127.0.0.1:{admin_port}",
        nats_url=private_nats.url,
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        env=env,
        admin_env=admin_env,
        run_dir=run_dir,
    )
    admin.stop()
    api.stop()
    consumer.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def usage_event(
    tenant_id: uuid.UUID,
    api_key_id: uuid.UUID,
    started_at: datetime,
    *,
    model: str = "chat",
    status: str = "success",
    tokens_in: int = 10,
    tokens_out: int = 20,
    cost_usd: str = "0.0010000000",
    latency_ms: float = 100.0,
    ttft_ms: float | None = None,
    cache_hit: bool | None = None,
    request_id: str | None = None,
) -> EventEnvelope:
    """A `usage.recorded` event as the gateway's UsageMeter builds it (deterministic id from request_id)."""
    completed_at = started_at + timedelta(milliseconds=latency_ms)
    return usage_recorded(
        tenant_id,
        api_key_id,
        model=model,
        status=status,  # type: ignore[arg-type]  # the tests pass the three statuses as plain strings
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost_usd,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        request_id=request_id or f"req_{uuid.uuid4().hex}",
        provider="openai",
        started_at=started_at,
        completed_at=completed_at,
        occurred_at=completed_at,
        extra=None if cache_hit is None else {"cache_hit": cache_hit},
    )


async def publish_all(js: JetStreamContext, events: Iterable[EventEnvelope], *, chunk: int = 100) -> None:
    publisher = EventPublisher(js, timeout_s=10)
    pending = list(events)
    for i in range(0, len(pending), chunk):
        await asyncio.gather(*(publisher.publish(ev) for ev in pending[i : i + chunk]))


async def wait_caught_up(js: JetStreamContext, timeout_s: float = 60.0) -> None:
    """Until both analytics consumers have acked everything in their streams."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    for name in ("analytics-usage", "analytics-billing"):
        spec = CONSUMERS[name]
        while True:
            try:
                info = await js.consumer_info(spec.stream, spec.durable)
                if not info.num_pending and not info.num_ack_pending:
                    break
            except nats.js.errors.NotFoundError:
                pass  # not created yet (consumer still starting) or mid-rebuild
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{name} did not catch up in {timeout_s}s")
            await asyncio.sleep(0.1)


@pytest.fixture
def publish(js: JetStreamContext, stack: Stack) -> Callable[[Iterable[EventEnvelope]], Awaitable[None]]:
    """Publish events to the private JetStream and wait until the consumer process applied them."""

    async def _publish(events: Iterable[EventEnvelope]) -> None:
        await publish_all(js, events)
        await wait_caught_up(js)

    return _publish


async def get_json(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], **params: Any
) -> tuple[int, dict[str, Any]]:
    query = {k: (v.isoformat() if isinstance(v, datetime) else str(v)) for k, v in params.items() if v is not None}
    async with http.get(url, params=query, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


def assert_error_shape(body: dict[str, Any]) -> None:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["type"], str) and isinstance(error["code"], str) and isinstance(error["message"], str)
    assert "Traceback" not in error["message"]


def expected_kpis(events: Iterable[EventEnvelope]) -> dict[str, Any]:
    """Counters computed independently from the raw events (what the API's totals must equal)."""
    usages = [UsageRecorded.model_validate({k: v for k, v in ev.data.items() if k != "cache_hit"}) for ev in events]
    flags = [ev.data["cache_hit"] for ev in events if "cache_hit" in ev.data]
    requests = len(usages)
    errored = sum(u.status == "error" for u in usages)
    return {
        "requests": requests,
        "succeeded": sum(u.status == "success" for u in usages),
        "errored": errored,
        "cancelled": sum(u.status == "cancelled" for u in usages),
        "tokens_in": sum(u.tokens_in for u in usages),
        "tokens_out": sum(u.tokens_out for u in usages),
        "cost_usd": sum((u.cost_usd for u in usages), Decimal(0)),
        "error_rate": errored / requests if requests else None,
        "cache_hit_rate": sum(flags) / len(flags) if flags else None,
    }


def counters_of(kpis: dict[str, Any]) -> dict[str, Any]:
    """The counter fields of an API KPI object, cost_usd as Decimal."""
    keys = ("requests", "succeeded", "errored", "cancelled", "tokens_in", "tokens_out", "error_rate", "cache_hit_rate")
    return {**{k: kpis[k] for k in keys}, "cost_usd": Decimal(kpis["cost_usd"])}


@dataclass(frozen=True)
class Helpers:
    """Plain helpers for the test modules (pytest's importlib mode gives them no import path to conftest)."""

    usage_event = staticmethod(usage_event)
    publish_all = staticmethod(publish_all)
    wait_caught_up = staticmethod(wait_caught_up)
    get_json = staticmethod(get_json)
    assert_error_shape = staticmethod(assert_error_shape)
    expected_kpis = staticmethod(expected_kpis)
    counters_of = staticmethod(counters_of)


@pytest.fixture(scope="session")
def h() -> Helpers:
    return Helpers()
