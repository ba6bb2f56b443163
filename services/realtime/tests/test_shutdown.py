"""SIGTERM: every socket gets close 1012, and a reply still streaming is finished and stored (drain)."""

from __future__ import annotations

import asyncio
import signal

from aiaas_testing.realtime import close_code, open_ws, recv, recv_until, send, text_of


async def test_sigterm_sends_1012_and_drains_replies(spawn_realtime, rt_a, make_tenant) -> None:
    doomed = spawn_realtime("realtime-shutdown")
    tenant = await make_tenant()
    async with open_ws(doomed.ws, tenant.api_key) as streaming, open_ws(doomed.ws, tenant.api_key) as idle:
        await send(idle, type="ping")
        assert (await recv(idle))["type"] == "pong"
        await send(streaming, type="message.create", content="Keep talking", model="slow", client_msg_id="1")
        before, _ = await recv_until(streaming, ("response.delta",))
        stopping = asyncio.get_running_loop().run_in_executor(None, doomed.proc.stop)
        codes = await asyncio.gather(close_code(streaming), close_code(idle))
        assert codes == [1012, 1012]
        # uvicorn re-raises the captured SIGTERM after its clean shutdown.
        assert await stopping in (0, -signal.SIGTERM)

    # The reply finished during the drain: another instance replays it whole.
    async with open_ws(rt_a.ws, tenant.api_key) as ws:
        await send(ws, type="resume", conversation_id=before[0]["conversation_id"], last_seq=0)
        replay, _ = await recv_until(ws, ("response.completed", "error"))
    assert replay[-1]["type"] == "response.completed"
    assert replay[-1]["text"] == text_of(replay, replay[-1]["response_id"])
    assert [e["seq"] for e in replay] == list(range(1, len(replay) + 1))
