"""Billing test fixtures: the real API and meter processes on the shared Postgres, NATS and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import httpx2
import nats
import pytest

from aiaas.events import EventPublisher, ensure_topology
from aiaas_testing import InfraUrls, ServiceProcess, TenantWithKey, free_port

from .factories import STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET, billing_admin_env, billing_env

CHECKOUT_EVENTS = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("billing-run")


@pytest.fixture(scope="session")
def stripe_sim_url(run_dir: Path) -> Iterator[str]:
    """A `python -m stripe_sim` process for the session (billing's Stripe)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        ["-m", "stripe_sim", "--host", "127.0.0.1", "--port", str(port)],
        env={},
        log_path=run_dir / f"stripe-sim-{port}.log",
        ready_url=f"{url}/health",
    ).start(timeout_s=20)
    yield url
    process.stop()


@pytest.fixture(scope="session")
def billing_url(run_dir: Path, infra_urls: InfraUrls, stripe_sim_url: str) -> Iterator[str]:
    """One billing API process shared by the tests."""
    port = free_port()
    proc = ServiceProcess(
        ["-m", "billing", "--host", "127.0.0.1", "--port", str(port)],
        env=billing_env(infra_urls, STRIPE_API_KEY=STRIPE_API_KEY, STRIPE_API_BASE=stripe_sim_url),
        log_path=run_dir / f"billing-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def billing_admin_url(run_dir: Path, infra_urls: InfraUrls, stripe_sim_url: str) -> Iterator[str]:
    """One billing admin listener (`/admin/billing/*`, `/webhooks/stripe`) shared by the tests.

    The stand-in sends it the checkout.session.* events (signed with STRIPE_WEBHOOK_SECRET).
    """
    port = free_port()
    proc = ServiceProcess(
        ["-m", "billing.admin", "--host", "127.0.0.1", "--port", str(port)],
        env=billing_admin_env(infra_urls, STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET),
        log_path=run_dir / f"billing-admin-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    endpoint = {
        "url": f"http://127.0.0.1:{port}/webhooks/stripe",
        "secret": STRIPE_WEBHOOK_SECRET,
        "enabled_events": CHECKOUT_EVENTS,
    }
    registered = httpx2.post(f"{stripe_sim_url}/_sim/webhook_endpoints", json=endpoint, timeout=10)
    assert registered.status_code == 201, registered.text
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="module")
def meter(run_dir: Path, infra_urls: InfraUrls) -> Iterator[ServiceProcess]:
    """The meter process (consumer, outbox relay, alert deliverer, quota reconcile).

    Per module, not per session: left running, it would meter (and relay the outbox rows of) the later
    suites' tenants against the shared NATS, under their feet.
    """
    proc = ServiceProcess(
        ["-m", "billing.meter"], env=billing_admin_env(infra_urls), log_path=run_dir / "meter.log"
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def publisher(infra_urls: InfraUrls) -> AsyncIterator[EventPublisher]:
    nc = await nats.connect(infra_urls.nats_url)
    # On a fresh NATS the streams exist only once some service declared them: declare them here.
    await ensure_topology(nc.jetstream(), consumers=())
    yield EventPublisher(nc.jetstream())
    await nc.close()


@pytest.fixture
async def tenant(make_tenant) -> TenantWithKey:
    return await make_tenant()
