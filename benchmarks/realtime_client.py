"""Load generator for benchmarks/realtime.py: many WebSocket clients of the realtime protocol in one process.

    realtime_client.py idle   --url WS --key KEY --connections 10000 --hold-s 30 --ping-every-s 20
    realtime_client.py stream --url WS --key KEY --connections 1000 --duration-s 30 --model rt-bench

Prints one JSON object per line on stdout: `{"event": "opened", ...}` once every socket is open (idle:
the orchestrator samples the server's memory then), and a final `{"event": "result", ...}`.
`idle` then waits for a line on stdin before closing its sockets, so memory is read while they are held.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

_PING = orjson.dumps({"v": 1, "type": "ping"}).decode()


def _emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _open(url: str, key: str, count: int, concurrency: int) -> tuple[list[ClientConnection], Counter[str]]:
    gate = asyncio.Semaphore(concurrency)
    sockets: list[ClientConnection] = []
    failures: Counter[str] = Counter()

    async def one() -> None:
        async with gate:
            try:
                ws = await connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {key}"},
                    open_timeout=60,
                    ping_interval=None,  # the server pings; the client answers (websockets does it)
                    compression=None,
                    max_queue=64,
                )
            except (OSError, TimeoutError, InvalidStatus) as exc:
                failures[type(exc).__name__] += 1
                return
            sockets.append(ws)

    await asyncio.gather(*(one() for _ in range(count)))
    return sockets, failures


async def _close_all(sockets: list[ClientConnection]) -> None:
    """Close handshakes for every socket, bounded: whatever is still open after 30 s is dropped."""
    closes = [asyncio.ensure_future(ws.close()) for ws in sockets]
    if closes:
        await asyncio.wait(closes, timeout=30)
    for ws in sockets:
        if ws.state.name != "CLOSED":
            ws.transport.abort()


async def _idle(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    sockets, failures = await _open(args.url, args.key, args.connections, args.connect_concurrency)
    connect_s = time.perf_counter() - started
    pongs = 0
    ping_failures: Counter[str] = Counter()

    async def heartbeat(ws: ClientConnection, offset_s: float) -> None:
        """Application ping every `ping_every_s` (the idle timeout counts client frames), expect a pong."""
        nonlocal pongs
        await asyncio.sleep(offset_s)
        while True:
            try:
                async with asyncio.timeout(30):
                    await ws.send(_PING)
                    reply = orjson.loads(await ws.recv())
            except (ConnectionClosed, TimeoutError) as exc:
                ping_failures[type(exc).__name__] += 1
                return
            if reply.get("type") == "pong":
                pongs += 1
            await asyncio.sleep(args.ping_every_s)

    count = max(1, len(sockets))
    beats = [asyncio.create_task(heartbeat(ws, args.ping_every_s * i / count)) for i, ws in enumerate(sockets)]
    _emit(event="opened", open=len(sockets), failed=dict(failures), connect_s=round(connect_s, 3))
    await asyncio.sleep(args.hold_s)
    alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
    _emit(event="held", alive=alive, pongs=pongs, heartbeat_failures=dict(ping_failures))
    # Keep heartbeating until the orchestrator has read the server's memory.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in beats:
        task.cancel()
    await asyncio.wait(beats, timeout=10)
    await _close_all(sockets)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _emit(
        event="result",
        opened=len(sockets),
        alive_after_hold=alive,
        pongs=pongs,
        connect_failures=dict(failures),
        heartbeat_failures=dict(ping_failures),
        connect_s=round(connect_s, 3),
        client_cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
    )


async def _stream(args: argparse.Namespace) -> None:
    """Every socket runs turns in one conversation: send, read deltas up to the completion, think, repeat."""
    sockets, failures = await _open(args.url, args.key, args.connections, args.connect_concurrency)
    _emit(event="opened", open=len(sockets), failed=dict(failures))
    latencies: list[float] = []  # client receive time - the delta's server `ts`, seconds
    ttfts: list[float] = []
    turns: list[float] = []
    errors: Counter[str] = Counter()
    deltas = 0
    completed = 0
    stop_at = time.monotonic() + args.duration_s
    first_delta_at: float | None = None
    last_delta_at = 0.0

    async def converse(ws: ClientConnection, index: int) -> None:
        nonlocal deltas, completed, first_delta_at, last_delta_at
        conversation: str | None = None
        await asyncio.sleep(args.think_s * index / max(1, len(sockets)))  # staggered starts
        turn = 0
        while time.monotonic() < stop_at:
            frame: dict[str, Any] = {
                "v": 1,
                "type": "message.create",
                "client_msg_id": f"m{index}-{turn}",
                "content": f"benchmark turn {turn} of socket {index}",
                "model": args.model,
            }
            if conversation is not None:
                frame["conversation_id"] = conversation
            sent = time.monotonic()
            got_first = False
            try:
                await ws.send(orjson.dumps(frame).decode())
                while True:
                    event = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                    kind = event["type"]
                    if kind == "response.delta":
                        now = time.time()
                        latencies.append(now - event["ts"])
                        deltas += 1
                        mono = time.monotonic()
                        if first_delta_at is None:
                            first_delta_at = mono
                        last_delta_at = mono
                        if not got_first:
                            ttfts.append(mono - sent)
                            got_first = True
                    elif kind == "conversation.created":
                        conversation = event["conversation_id"]
                    elif kind == "response.completed":
                        completed += 1
                        turns.append(time.monotonic() - sent)
                        break
                    elif kind == "error":
                        errors[event.get("code", "error")] += 1
                        if event.get("response_id") or event.get("code") != "duplicate_message":
                            break
            except (ConnectionClosed, TimeoutError) as exc:
                errors[type(exc).__name__] += 1
                return
            turn += 1
            await asyncio.sleep(args.think_s)

    started = time.monotonic()
    await asyncio.gather(*(converse(ws, i) for i, ws in enumerate(sockets)))
    elapsed = time.monotonic() - started
    await _close_all(sockets)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    span = (last_delta_at - first_delta_at) if first_delta_at is not None else 0.0
    _emit(
        event="result",
        connections=len(sockets),
        connect_failures=dict(failures),
        replies_completed=completed,
        deltas=deltas,
        elapsed_s=round(elapsed, 3),
        deltas_per_s=round(deltas / span, 1) if span > 0 else 0.0,
        replies_per_s=round(completed / elapsed, 2) if elapsed > 0 else 0.0,
        errors=dict(errors),
        delta_latency_s=_summary(latencies),
        ttft_s=_summary(ttfts),
        turn_s=_summary(turns),
        client_cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
    )


def _summary(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 3)

    return {
        "count": len(ordered),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("idle", "stream"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument("--hold-s", type=float, default=30)
    parser.add_argument("--ping-every-s", type=float, default=20)
    parser.add_argument("--duration-s", type=float, default=30)
    parser.add_argument("--think-s", type=float, default=1.0)
    parser.add_argument("--model", default="rt-bench")
    args = parser.parse_args()
    _raise_nofile()
    import uvloop

    uvloop.run(_idle(args) if args.mode == "idle" else _stream(args))


if __name__ == "__main__":
    main()
