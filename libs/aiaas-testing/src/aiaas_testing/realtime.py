"""Test client for the realtime protocol (`websockets` asyncio API), used by realtime's tests and the journeys."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["close_code", "create_ticket", "open_ws", "recv", "recv_until", "send", "text_of"]


def open_ws(url: str, api_key: str | None, *, via: str = "header", **kwargs: Any) -> connect:
    """`async with open_ws(...) as ws` with the key in the Authorization header or the `api_key` query."""
    headers: dict[str, str] = {}
    if api_key is not None and via == "header":
        headers["Authorization"] = f"Bearer {api_key}"
    elif api_key is not None:
        url = f"{url}?api_key={api_key}"
    return connect(url, additional_headers=headers, open_timeout=10, ping_interval=None, **kwargs)


async def create_ticket(http_url: str, api_key: str) -> dict[str, Any]:
    """`POST /v1/realtime/sessions` with the key; the 201 body (`ticket`, `expires_at`, `expires_in`, `url`)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{http_url}/v1/realtime/sessions", headers={"Authorization": f"Bearer {api_key}"}
        ) as resp:
            body: dict[str, Any] = await resp.json()
            assert resp.status == 201, (resp.status, body)
    return body


async def send(ws: ClientConnection, **frame: Any) -> None:
    """One client frame of protocol version 1."""
    await ws.send(orjson.dumps({"v": 1, **frame}).decode())


async def recv(ws: ClientConnection, wait_s: float = 10.0) -> dict[str, Any]:
    """The next server event (a JSON object)."""
    event: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), wait_s))
    return event


async def recv_until(
    ws: ClientConnection, kinds: tuple[str, ...], wait_s: float = 20.0
) -> tuple[list[dict[str, Any]], list[float]]:
    """Events up to and including the first whose type is in `kinds`, with their arrival times."""
    events: list[dict[str, Any]] = []
    times: list[float] = []
    deadline = time.monotonic() + wait_s
    while True:
        event = await recv(ws, max(0.01, deadline - time.monotonic()))
        events.append(event)
        times.append(time.monotonic())
        if event["type"] in kinds:
            return events, times


async def close_code(ws: ClientConnection, wait_s: float = 15.0) -> int | None:
    """Read until the server closes; the close code it sent."""
    try:
        async with asyncio.timeout(wait_s):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


def text_of(events: list[dict[str, Any]], response_id: str) -> str:
    """The reply text of `response_id` put together from its deltas."""
    return "".join(e["delta"] for e in events if e["type"] == "response.delta" and e["response_id"] == response_id)
