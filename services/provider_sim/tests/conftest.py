"""A real simulator process (`python -m provider_sim`) on a free port, plus SDK clients pointed at it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import anthropic
import httpx2
import openai
import pytest

from aiaas_testing import ServiceProcess, free_port

# Models configured through PROVIDER_SIM_MODELS_JSON, exercised by the config tests.
CONFIGURED_MODELS = {
    "sim-broken": {"fault": "500"},
    "sim-slow": {"ttft_ms": 300},
    "sim-short": {"reply_min_tokens": 5, "reply_max_tokens": 5},
    "sim-dropper": {"fault": "drop_stream", "after_tokens": 1},
}


@pytest.fixture(scope="session")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a simulator subprocess, stopped at the end of the session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        ["-m", "provider_sim", "--host", "127.0.0.1", "--port", str(port)],
        env={
            "PROVIDER_SIM_MODELS_JSON": json.dumps(CONFIGURED_MODELS),
            "PROVIDER_SIM_TIMEOUT_HOLD_S": "10",
            "PROVIDER_SIM_RETRY_AFTER_S": "7",
            "PROVIDER_SIM_DROP_AFTER_TOKENS": "2",
        },
        log_path=tmp_path_factory.mktemp("provider_sim") / "server.log",
        ready_url=f"{url}/health",
    ).start(timeout_s=20)
    yield url
    process.stop()


@pytest.fixture(scope="session")
async def _http(sim_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    """One plain HTTP client for the whole session."""
    async with httpx2.AsyncClient(base_url=sim_url, timeout=10) as client:
        yield client


@pytest.fixture
async def control(_http: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """Plain HTTP client for the control API and raw wire checks, after resetting the simulator.

    Every server-backed test starts with no runtime faults, no latency overrides and zeroed counters.
    """
    response = await _http.post("/_sim/reset")
    assert response.json() == {"reset": True}
    return _http


@pytest.fixture
async def oai(sim_url: str, control: httpx2.AsyncClient) -> AsyncIterator[openai.AsyncOpenAI]:
    """Official OpenAI SDK client, no retries so faults surface directly."""
    client = openai.AsyncOpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def claude(sim_url: str, control: httpx2.AsyncClient) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """Official Anthropic SDK client, no retries so faults surface directly."""
    client = anthropic.AsyncAnthropic(base_url=sim_url, api_key="x", max_retries=0)
    yield client
    await client.close()
