"""Fixtures of the tool adapter's tests: a real toolbox process per module, a tenant of its own per test."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from aiaas.resilience import BreakerRegistry
from aiaas.tools import DEFAULT_BREAKER, ToolAdapter
from aiaas_testing import free_port
from aiaas_testing.toolbox import ManualClock, ToolboxControl, start_toolbox


@pytest.fixture(scope="module")
def toolbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real toolbox process, stopped at the end of the module."""
    process, url = start_toolbox(tmp_path_factory.mktemp("toolbox"))
    yield url
    process.stop()


@pytest.fixture(scope="module")
async def control_http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def toolbox_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def control(control_http: aiohttp.ClientSession, toolbox_url: str, toolbox_tenant: str) -> ToolboxControl:
    return ToolboxControl(control_http, toolbox_url, toolbox_tenant)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
async def adapter(
    toolbox_url: str, toolbox_tenant: str, clock: ManualClock, delays: list[float]
) -> AsyncIterator[ToolAdapter]:
    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(seconds)

    async with ToolAdapter(
        {"toolbox": toolbox_url, "dead": f"http://127.0.0.1:{free_port()}"},
        breakers=BreakerRegistry(DEFAULT_BREAKER, clock=clock),
        headers={"X-Toolbox-Tenant": toolbox_tenant},
        rng=random.Random(1234),
        sleep=recording_sleep,
    ) as tool_adapter:
        yield tool_adapter
