"""Resume: drop the socket mid-reply, continue on another instance from the last seq; no loss, no duplicates."""

from __future__ import annotations

from aiaas_testing.realtime import open_ws, recv_until, send, text_of


async def test_resume_on_a_second_instance_mid_reply(rt_a, rt_b, make_tenant) -> None:
    tenant = await make_tenant()
    async with open_ws(rt_a.ws, tenant.api_key) as ws:
        await send(ws, type="message.create", content="A long story please", model="slow", client_msg_id="s-1")
        before = []
        while sum(e["type"] == "response.delta" for e in before) < 5:
            more, _ = await recv_until(ws, ("response.delta",))
            before += more
        ws.transport.abort()  # the network drops: no close handshake

    cid, last_seq = before[0]["conversation_id"], before[-1]["seq"]
    async with open_ws(rt_b.ws, tenant.api_key) as ws:
        await send(ws, type="resume", conversation_id=cid, last_seq=last_seq)
        after, _ = await recv_until(ws, ("response.completed",))

    seqs = [e["seq"] for e in before + after]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    assert sum(e["type"] == "response.delta" for e in after) >= 5  # the reply was still streaming
    completed = after[-1]
    assert completed["text"] == text_of(before + after, completed["response_id"])
    assert len(completed["text"].split()) >= 30

    # After the reply finished, a resume from 0 on either instance replays the identical log (from Postgres).
    for instance in (rt_a, rt_b):
        async with open_ws(instance.ws, tenant.api_key) as ws:
            await send(ws, type="resume", conversation_id=cid, last_seq=0)
            replay, _ = await recv_until(ws, ("response.completed",))
        assert replay == before + after


async def test_resume_beyond_the_log_is_an_error(rt_a, make_tenant) -> None:
    tenant = await make_tenant()
    async with open_ws(rt_a.ws, tenant.api_key) as ws:
        await send(ws, type="message.create", content="hi", model="chat", client_msg_id="1")
        events, _ = await recv_until(ws, ("response.completed",))
        await send(ws, type="resume", conversation_id=events[0]["conversation_id"], last_seq=events[-1]["seq"] + 5)
        error, _ = await recv_until(ws, ("error",))
    assert error[-1]["code"] == "invalid_last_seq"
