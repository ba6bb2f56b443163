"""Malformed, unknown and oversize frames: an `error` event (or 1009 above the transport limit); serving goes on."""

from __future__ import annotations

import aiohttp
import orjson
from websockets.exceptions import ConnectionClosed

from aiaas_testing.realtime import close_code, open_ws, recv, recv_until, send

from .factories import MAX_FRAME_BYTES, WS_MAX_SIZE

BAD_FRAMES = [
    ("{not json", "invalid_json"),
    ("[1, 2, 3]", "invalid_message"),
    ('"ping"', "invalid_message"),
    ('{"v": 1}', "invalid_message"),
    ('{"v": 1, "type": "launch.missiles"}', "unknown_type"),
    ('{"v": 2, "type": "ping"}', "unsupported_version"),
    ('{"v": true, "type": "ping"}', "unsupported_version"),
    ('{"type": "resume", "conversation_id": "not-a-uuid", "last_seq": 0}', "invalid_message"),
    (
        '{"type": "resume", "conversation_id": "0b6e1a52-8c9d-4c44-9a3e-6f1f0f7e0c11", "last_seq": -1}',
        "invalid_message",
    ),
    ('{"type": "message.create", "content": "", "model": "chat", "client_msg_id": "1"}', "invalid_message"),
    ('{"type": "message.create", "content": "a\\u0000b", "model": "chat", "client_msg_id": "1"}', "invalid_message"),
    ('{"type": "message.create", "content": "\\ud800", "model": "chat", "client_msg_id": "1"}', "invalid_json"),
    ('{"type": "message.create", "model": "chat"}', "invalid_message"),
]


async def test_bad_frames_get_error_events_and_the_socket_keeps_working(rt_a, make_tenant) -> None:
    tenant = await make_tenant()
    async with open_ws(rt_a.ws, tenant.api_key) as ws:
        for frame, code in BAD_FRAMES:
            await ws.send(frame)
            error = await recv(ws)
            assert (error["type"], error["code"]) == ("error", code), frame
            assert "seq" not in error
        await ws.send(b'{"type": "ping"}')
        assert (await recv(ws))["code"] == "binary_not_supported"
        await ws.send(orjson.dumps({"type": "ping", "pad": "x" * MAX_FRAME_BYTES}).decode())
        assert (await recv(ws))["code"] == "frame_too_large"
        # Still serving this socket, with unknown fields ignored.
        await send(ws, type="ping", extra_field={"ignored": True})
        assert (await recv(ws)) == {"v": 1, "type": "pong"}
        await send(ws, type="message.create", content="still there?", model="chat", client_msg_id="ok")
        events, _ = await recv_until(ws, ("response.completed", "error"))
        assert events[-1]["type"] == "response.completed"
        # An unknown model is the gateway's error, relayed.
        cid = events[0]["conversation_id"]
        await send(ws, type="message.create", conversation_id=cid, content="x", model="nope", client_msg_id="m2")
        events, _ = await recv_until(ws, ("response.completed", "error"))
        assert events[-1]["type"] == "error" and events[-1]["status"] == 404


async def test_frame_above_transport_limit_closes_1009_and_server_keeps_serving(rt_a, make_tenant) -> None:
    tenant = await make_tenant()
    async with open_ws(rt_a.ws, tenant.api_key, max_size=None) as ws:
        try:
            await ws.send("x" * (WS_MAX_SIZE + 1))
        except ConnectionClosed as exc:  # the server may close (1009) before the client has written all of it
            code = exc.rcvd.code if exc.rcvd is not None else None
        else:
            code = await close_code(ws)
        assert code == 1009
    async with open_ws(rt_a.ws, tenant.api_key) as ws:
        await send(ws, type="ping")
        assert (await recv(ws))["type"] == "pong"
    async with aiohttp.ClientSession() as http, http.get(f"{rt_a.http}/health/ready") as resp:
        assert resp.status == 200
