"""Backpressure: a client that never reads gets 4008, does not slow 50 others, and memory stays bounded."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time

import aiohttp
import psutil

from aiaas_testing.realtime import close_code, open_ws, recv_until, send

CLIENTS = 50
STUCK_CONVERSATIONS = 4
# Documented bound: the stuck client may cost the process at most this much resident memory.
RSS_BOUND_BYTES = 40 * 1024 * 1024


async def _round(sockets, label: str) -> tuple[list[float], list[float]]:
    """Every client asks at once; per client: seconds to the completion and to the first delta."""

    async def one(i: int, ws) -> tuple[float, float]:
        started = time.monotonic()
        await send(ws, type="message.create", content=f"{label} from client {i}", model="rt", client_msg_id=label)
        events, times = await recv_until(ws, ("response.completed", "error"), wait_s=60)
        assert events[-1]["type"] == "response.completed", {k: events[-1].get(k) for k in ("code", "message")}
        first = next(t for e, t in zip(events, times, strict=True) if e["type"] == "response.delta")
        return times[-1] - started, first - started

    results = await asyncio.gather(*(one(i, ws) for i, ws in enumerate(sockets)))
    return [r[0] for r in results], [r[1] for r in results]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def _metric(metrics_url: str, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(metrics_url) as resp:
        body = await resp.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name))


async def test_stuck_client_is_closed_4008_without_slowing_others(spawn_realtime, make_tenant) -> None:
    server = spawn_realtime(
        "realtime-bp",
        REALTIME_SEND_QUEUE_MAX_ITEMS="64",
        REALTIME_SEND_QUEUE_MAX_BYTES="8192",
        REALTIME_SOCKET_SEND_BUFFER_BYTES="16384",
        REALTIME_MAX_CONNECTIONS_PER_TENANT=str(CLIENTS + 5),
        REALTIME_MAX_CONVERSATIONS_PER_CONNECTION="8",
        REALTIME_IDLE_TIMEOUT_S="120",
    )
    tenant, stuck_tenant = await make_tenant(), await make_tenant()
    process = psutil.Process(server.proc.proc.pid)
    sockets = [await open_ws(server.ws, tenant.api_key) for _ in range(CLIENTS)]
    try:
        await _round(sockets, "warm-up")
        base_total, base_first = await _round(sockets, "baseline")
        rss_before = process.memory_info().rss

        # A client that never reads, with a tiny receive buffer and no permessage-deflate (which shrinks
        # these repetitive frames ~20x), so the server's socket buffers fill and its send queue takes over.
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", server.port))
        stuck = await open_ws(server.ws, stuck_tenant.api_key, sock=raw, max_queue=4, compression=None)
        for n in range(STUCK_CONVERSATIONS):
            await send(stuck, type="message.create", content=f"flood {n}", model="big", client_msg_id=str(n))
        stuck_total, stuck_first = await _round(sockets, "with-stuck")
        rss_after = process.memory_info().rss

        # Closed while still stuck (the 4008 is queued behind what fills its pipe); now it reads.
        for _ in range(100):
            if await _metric(server.metrics, 'ws_closes_total{code="4008"}') == 1:
                break
            await asyncio.sleep(0.2)
        assert await _metric(server.metrics, 'ws_closes_total{code="4008"}') == 1
        drops = await _metric(server.metrics, "ws_backpressure_drops_total")
        assert await close_code(stuck, wait_s=60) == 4008
        await stuck.close()
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))

    print(
        f"\ncompletion s p50/p95: baseline {statistics.median(base_total):.3f}/{_p95(base_total):.3f}, "
        f"with stuck client {statistics.median(stuck_total):.3f}/{_p95(stuck_total):.3f}; "
        f"first delta s p50/p95: baseline {statistics.median(base_first):.3f}/{_p95(base_first):.3f}, "
        f"with stuck client {statistics.median(stuck_first):.3f}/{_p95(stuck_first):.3f}; "
        f"deltas coalesced {drops:.0f}; RSS before {rss_before / 2**20:.1f} MiB, after {rss_after / 2**20:.1f} MiB"
    )
    assert statistics.median(stuck_total) <= 2 * statistics.median(base_total)
    assert _p95(stuck_total) <= 2 * _p95(base_total)
    assert rss_after - rss_before < RSS_BOUND_BYTES
    # Not asserted here: that ws_active_connections returns to 0 once the 51 sockets close. On a loaded
    # machine (CI) it stayed at 3 for over 30 s once; a known issue to chase (see the realtime README).
