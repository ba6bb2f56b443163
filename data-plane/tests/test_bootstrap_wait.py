"""bootstrap waits for a Postgres that is still starting (compose's migrate job races its first start)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from aiaas_testing import free_port
from data_plane.bootstrap import _connect_when_up


async def test_connect_retries_until_the_wait_is_over_then_raises() -> None:
    url = f"postgresql://postgres:postgres@127.0.0.1:{free_port()}/postgres"
    started = time.monotonic()
    with pytest.raises(OSError):
        await _connect_when_up(url, wait_s=2.0)
    assert 2.0 <= time.monotonic() - started < 8.0


async def test_connect_succeeds_once_the_server_answers() -> None:
    url = os.environ["PG_SUPERUSER_URL"]
    conn = await asyncio.wait_for(_connect_when_up(url, wait_s=5.0), timeout=10)
    try:
        assert await conn.fetchval("select 1") == 1
    finally:
        await conn.close()
