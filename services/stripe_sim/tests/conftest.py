"""A real stand-in process (`python -m stripe_sim`) on a free port, the official SDK pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest
import stripe

from aiaas_testing import ServiceProcess, free_port

API_KEY = "sk_test_stripe_sim"


@pytest.fixture(scope="session")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a stand-in subprocess, stopped at the end of the session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        ["-m", "stripe_sim", "--host", "127.0.0.1", "--port", str(port)],
        env={"STRIPE_SIM_WEBHOOK_TIMEOUT_S": "5"},
        log_path=tmp_path_factory.mktemp("stripe_sim") / "server.log",
        ready_url=f"{url}/health",
    ).start(timeout_s=20)
    yield url
    process.stop()


@pytest.fixture(scope="session")
async def _http(sim_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=sim_url, timeout=10) as client:
        yield client


@pytest.fixture
async def control(_http: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """Plain HTTP client for the control API and raw wire checks; every test starts from an empty stand-in."""
    response = await _http.post("/_sim/reset")
    assert response.json() == {"reset": True}
    return _http


@pytest.fixture
async def client(sim_url: str, control: httpx2.AsyncClient) -> AsyncIterator[stripe.StripeClient]:
    """The official SDK's async client, SDK retries off so faults surface directly."""
    http = stripe.AIOHTTPClient()
    yield stripe.StripeClient(API_KEY, base_addresses={"api": sim_url}, http_client=http, max_network_retries=0)
    await http.close_async()


@pytest.fixture
def writes(control: httpx2.AsyncClient) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    """Reads the stand-in's write log, filtered (`idempotency_key=...`, `path_prefix=...`)."""

    async def read(**filters: str) -> list[dict[str, Any]]:
        return (await control.get("/_sim/requests", params=filters)).json()["requests"]

    return read
