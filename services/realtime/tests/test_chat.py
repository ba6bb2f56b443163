"""Chat over the socket: ordered deltas, completion equal to the REST reply, one metered request, history."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from sqlalchemy import text

from aiaas.db import tenant_session
from aiaas_testing.realtime import open_ws, recv, recv_until, send, text_of


async def _rest_reply(gateway_url: str, api_key: str, messages: list[dict[str, str]], model: str = "chat") -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gateway_url}/v1/chat/completions",
            json={"model": model, "messages": messages},
            headers={"Authorization": f"Bearer {api_key}"},
        ) as resp:
            assert resp.status == 200
            body = await resp.json()
    return str(body["choices"][0]["message"]["content"])


async def _request_rows(runtime_sessions, tenant_id, expected: int, timeout_s: float = 15.0) -> list:
    deadline = time.monotonic() + timeout_s
    while True:
        async with tenant_session(runtime_sessions, tenant_id) as session:
            rows = (
                await session.execute(text("select stream, status, tokens_in, tokens_out from requests order by id"))
            ).all()
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.2)


async def test_reply_streams_in_order_and_matches_rest(
    rt_a, gateway_url, usage_writer, make_tenant, runtime_sessions
) -> None:
    tenant = await make_tenant()
    async with open_ws(rt_a.ws, tenant.api_key) as ws:
        await send(ws, type="message.create", content="Tell me about otters", model="chat", client_msg_id="c-1")
        events, _ = await recv_until(ws, ("response.completed", "error"))

    kinds = [e["type"] for e in events]
    assert kinds[0] == "conversation.created"
    assert kinds[1] == "message.created"
    assert kinds[-1] == "response.completed"
    assert set(kinds[2:-1]) == {"response.delta"}
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(events) + 1))
    cid = events[0]["conversation_id"]
    assert all(e["conversation_id"] == cid and e["v"] == 1 for e in events)
    completed = events[-1]
    assert events[1]["client_msg_id"] == "c-1"
    assert events[1]["response_id"] == completed["response_id"]
    assert completed["text"] == text_of(events, completed["response_id"])
    usage = completed["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    # The simulator is deterministic: the same request through REST gives the same text.
    rest = await _rest_reply(gateway_url, tenant.api_key, [{"role": "user", "content": "Tell me about otters"}])
    assert completed["text"] == rest

    # Exactly one metered streamed request for the socket's reply (plus the REST one, not streamed).
    rows = await _request_rows(runtime_sessions, tenant.id, expected=2)
    # The gateway batches usage events, so the two rows may be written in either order.
    assert sorted((r.stream, r.status) for r in rows) == [(False, "success"), (True, "success")]
    streamed = next(r for r in rows if r.stream)
    assert streamed.tokens_out == usage["completion_tokens"]

    # Persisted under the tenant: every event, same seqs.
    async with tenant_session(runtime_sessions, tenant.id) as session:
        stored = (
            await session.execute(
                text("select seq, type from rt_events where conversation_id = :c order by seq"), {"c": cid}
            )
        ).all()
    assert [(r.seq, r.type) for r in stored] == [(e["seq"], e["type"]) for e in events]


async def test_follow_up_sends_the_history(rt_a, gateway_url, make_tenant) -> None:
    tenant = await make_tenant()
    async with open_ws(rt_a.ws, tenant.api_key, via="query") as ws:
        await send(ws, type="message.create", content="First question", model="chat", client_msg_id="a")
        first, _ = await recv_until(ws, ("response.completed",))
        cid = first[0]["conversation_id"]
        await send(ws, type="message.create", conversation_id=cid, content="And then?", model="chat", client_msg_id="b")
        second, _ = await recv_until(ws, ("response.completed",))
        # The same client_msg_id again is refused, nothing is generated.
        await send(ws, type="message.create", conversation_id=cid, content="again", model="chat", client_msg_id="b")
        dup = await recv(ws)
    assert dup["type"] == "error" and dup["code"] == "duplicate_message"
    assert second[0]["type"] == "message.created" and second[0]["seq"] == first[-1]["seq"] + 1
    history = [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": first[-1]["text"]},
        {"role": "user", "content": "And then?"},
    ]
    assert second[-1]["text"] == await _rest_reply(gateway_url, tenant.api_key, history)


async def test_gateway_rate_limit_becomes_an_error_event(rt_a, make_tenant) -> None:
    tenant = await make_tenant(key_rpm=1)
    async with open_ws(rt_a.ws, tenant.api_key) as ws:
        await send(ws, type="message.create", content="one", model="chat", client_msg_id="1")
        first, _ = await recv_until(ws, ("response.completed", "error"))
        cid = first[0]["conversation_id"]
        await send(ws, type="message.create", conversation_id=cid, content="two", model="chat", client_msg_id="2")
        second, _ = await recv_until(ws, ("response.completed", "error"))
        # The conversation is usable again after the failed reply (nothing left in flight).
        await send(ws, type="ping")
        assert (await recv(ws))["type"] == "pong"
    assert first[-1]["type"] == "response.completed"
    error = second[-1]
    assert error["type"] == "error" and error["status"] == 429
    assert error["code"] == "rate_limit_exceeded"
    assert error["seq"] == second[0]["seq"] + 1 and error["conversation_id"] == cid


async def test_second_message_while_streaming_is_refused(rt_a, make_tenant) -> None:
    tenant = await make_tenant()
    async with open_ws(rt_a.ws, tenant.api_key) as ws:
        await send(ws, type="message.create", content="long one", model="slow", client_msg_id="1")
        head, _ = await recv_until(ws, ("response.delta",))
        cid = head[0]["conversation_id"]
        await send(ws, type="message.create", conversation_id=cid, content="x", model="slow", client_msg_id="2")
        rest, _ = await recv_until(ws, ("error",))
        assert rest[-1]["code"] == "response_in_progress" and "seq" not in rest[-1]
        tail, _ = await recv_until(ws, ("response.completed",))
    assert tail[-1]["text"] == text_of(head + rest + tail, tail[-1]["response_id"])
