"""Connection tickets: issued for a realtime key, open one socket that acts as that key, then never again.

Real realtime processes, gateway and provider simulator (conftest); expiry is shown by a realtime
process whose clock (AIAAS_CLOCK_OFFSET_S) runs two minutes ahead, so nothing waits for a ticket to age.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aiaas import clock
from aiaas.db import admin_session, tenant_session
from aiaas.tenancy import revoke_api_key
from aiaas_testing import free_port, metric_value, scrape_metrics
from aiaas_testing.realtime import close_code, create_ticket, open_ws, recv, recv_until, send

from .factories import Realtime

RT_KEY_SCOPES = ["chat", "realtime"]
_TICKETS_OF = text(
    "select ticket_hash, api_key_id, sealed_key, used_at from realtime_tickets where tenant_id = :t order by created_at"
)


@dataclass(frozen=True)
class Instance:
    """A realtime process of this module, with its metrics listener."""

    proc: Realtime
    metrics: str

    @property
    def ws(self) -> str:
        return self.proc.ws

    @property
    def http(self) -> str:
        return self.proc.http


@pytest.fixture(scope="module")
def instance(spawn_realtime: Callable[..., Realtime]) -> Iterator[Callable[..., Instance]]:
    """Start a realtime process with a metrics port; stopped at the end of this module."""
    started: list[Instance] = []

    def _start(name: str, **env: str) -> Instance:
        port = free_port()
        started.append(
            Instance(spawn_realtime(name, REALTIME_METRICS_PORT=str(port), **env), f"http://127.0.0.1:{port}")
        )
        return started[-1]

    yield _start
    for inst in started:
        inst.proc.proc.stop()


@pytest.fixture(scope="module")
def rt_1(instance: Callable[..., Instance]) -> Instance:
    return instance("realtime-t1")


@pytest.fixture(scope="module")
def rt_2(instance: Callable[..., Instance]) -> Instance:
    return instance("realtime-t2")


@pytest.fixture(scope="module")
def rt_late(instance: Callable[..., Instance]) -> Instance:
    """A realtime process whose clock is 120 s ahead of the others (tickets live 60 s); it purges nothing."""
    return instance(
        "realtime-late", AIAAS_CLOCK_OFFSET_S=repr(clock.offset_s() + 120), REALTIME_TICKET_PURGE_INTERVAL_S="0"
    )


@pytest.fixture(scope="module")
def rt_chatty(instance: Callable[..., Instance]) -> Instance:
    """Logs at INFO (uvicorn logs each handshake there), 1 s tickets, expired tickets purged every 0.5 s."""
    return instance(
        "realtime-chatty", LOG_LEVEL="INFO", REALTIME_TICKET_TTL_S="1", REALTIME_TICKET_PURGE_INTERVAL_S="0.5"
    )


async def _refusals(rt: Instance, reason: str) -> float:
    samples = await scrape_metrics(rt.metrics)
    assert any(s.name == "realtime_ticket_refusals_total" for s in samples), "refusal counter not exported"
    return metric_value(samples, "realtime_ticket_refusals_total", reason=reason)


async def _pong(url: str) -> bool:
    """Open `url`, ping: True if answered, False if the server closed with 4401 (anything else fails)."""
    async with open_ws(url, None) as ws:
        try:
            await send(ws, type="ping")
            return (await recv(ws))["type"] == "pong"
        except Exception:  # noqa: BLE001 - the close is checked right below
            assert ws.close_code == 4401, ws.close_code
            assert ws.close_reason == "invalid_ticket: Unknown, used or expired ticket; create a new one."
            return False


async def _tickets_of(admin_sessions, tenant_id) -> list:
    async with admin_session(admin_sessions) as session:
        return list((await session.execute(_TICKETS_OF, {"t": tenant_id})).all())


async def test_ticket_opens_one_socket_that_acts_as_its_key(
    rt_1, usage_writer, make_tenant, runtime_sessions, admin_sessions
) -> None:
    tenant = await make_tenant(scopes=RT_KEY_SCOPES)
    issued_after = clock.now()
    body = await create_ticket(rt_1.http, tenant.api_key)
    assert set(body) == {"ticket", "expires_at", "expires_in", "url"}
    ticket = body["ticket"]
    assert ticket.startswith("rtk-aiaas-") and len(ticket) == len("rtk-aiaas-") + 43
    assert body["expires_in"] == 60
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert issued_after + timedelta(seconds=60) <= expires_at <= clock.now() + timedelta(seconds=60)
    assert body["url"] == f"{rt_1.ws}?ticket={ticket}"

    # Only the ticket's hash is stored, and the key only sealed.
    [row] = await _tickets_of(admin_sessions, tenant.id)
    assert row.ticket_hash == hashlib.sha256(ticket.encode()).hexdigest()
    assert row.api_key_id == tenant.key_id and row.used_at is None
    assert tenant.api_key.encode() not in row.sealed_key and ticket.encode() not in row.sealed_key

    async with open_ws(body["url"], None) as ws:
        await send(ws, type="message.create", content="Tell me about otters", model="chat", client_msg_id="t-1")
        events, _ = await recv_until(ws, ("response.completed", "error"))
    assert [e["type"] for e in events][:2] == ["conversation.created", "message.created"]
    assert events[-1]["type"] == "response.completed" and events[-1]["usage"]["completion_tokens"] > 0
    [row] = await _tickets_of(admin_sessions, tenant.id)
    assert row.used_at is not None

    # The reply was metered to the key that created the ticket.
    deadline = time.monotonic() + 15
    while True:
        async with tenant_session(runtime_sessions, tenant.id) as session:
            rows = (await session.execute(text("select api_key_id, stream, tokens_out from requests"))).all()
        if rows or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert [(r.api_key_id, r.stream, r.tokens_out) for r in rows] == [
        (tenant.key_id, True, events[-1]["usage"]["completion_tokens"])
    ]


async def test_ticket_works_once_across_instances(rt_1, rt_2, make_tenant) -> None:
    tenant = await make_tenant(scopes=RT_KEY_SCOPES)
    ticket = (await create_ticket(rt_1.http, tenant.api_key))["ticket"]
    used_before = await _refusals(rt_1, "used")
    assert await _pong(f"{rt_2.ws}?ticket={ticket}")
    assert not await _pong(f"{rt_1.ws}?ticket={ticket}")
    assert await _refusals(rt_1, "used") == used_before + 1

    # Six handshakes racing with one ticket on two instances: exactly one socket opens.
    ticket = (await create_ticket(rt_2.http, tenant.api_key))["ticket"]
    results = await asyncio.gather(*(_pong(f"{rt.ws}?ticket={ticket}") for rt in (rt_1, rt_2) * 3))
    assert sorted(results) == [False] * 5 + [True]


async def test_ticket_expires(rt_1, rt_late, make_tenant) -> None:
    tenant = await make_tenant(scopes=RT_KEY_SCOPES)
    ticket = (await create_ticket(rt_1.http, tenant.api_key))["ticket"]
    expired_before = await _refusals(rt_late, "expired")
    # 120 s later on rt_late's clock: expired (not consumed, so it still works on a present-day instance).
    assert not await _pong(f"{rt_late.ws}?ticket={ticket}")
    assert await _refusals(rt_late, "expired") == expired_before + 1
    assert await _pong(f"{rt_1.ws}?ticket={ticket}")


async def test_ticket_of_one_tenant_cannot_open_anothers_conversation(rt_1, rt_2, make_tenant) -> None:
    owner, intruder = await make_tenant(scopes=RT_KEY_SCOPES), await make_tenant(scopes=RT_KEY_SCOPES)
    async with open_ws(rt_1.ws, owner.api_key) as ws:
        await send(ws, type="message.create", content="secret plans", model="chat", client_msg_id="1")
        events, _ = await recv_until(ws, ("response.completed",))
    cid = events[0]["conversation_id"]

    for frame in (
        {"type": "resume", "conversation_id": cid, "last_seq": 0},
        {"type": "message.create", "conversation_id": cid, "content": "hi", "model": "chat", "client_msg_id": "x"},
    ):
        ticket = (await create_ticket(rt_2.http, intruder.api_key))["ticket"]
        async with open_ws(f"{rt_2.ws}?ticket={ticket}", None) as ws:
            await send(ws, **frame)
            error = await recv(ws)
            assert (error["type"], error["code"], error["conversation_id"]) == ("error", "conversation_not_found", cid)
            assert await close_code(ws) == 4403


async def test_revoked_keys_ticket_is_refused(rt_1, make_tenant, admin_sessions) -> None:
    tenant = await make_tenant(scopes=RT_KEY_SCOPES)
    ticket = (await create_ticket(rt_1.http, tenant.api_key))["ticket"]
    async with admin_session(admin_sessions) as session:
        await revoke_api_key(session, tenant.id, tenant.key_id)
    revoked_before = await _refusals(rt_1, "revoked")
    # At once, although the service may still hold the key as valid in its resolver cache.
    assert not await _pong(f"{rt_1.ws}?ticket={ticket}")
    assert await _refusals(rt_1, "revoked") == revoked_before + 1


async def test_sessions_need_a_realtime_key_and_bad_tickets_are_refused(rt_1, make_tenant) -> None:
    chat_only = await make_tenant(scopes=["chat"])
    async with aiohttp.ClientSession() as http:
        url = f"{rt_1.http}/v1/realtime/sessions"
        async with http.post(url, headers=chat_only.auth) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "insufficient_scope"
        async with http.post(url) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "missing_api_key"
        # The API key in the query does not create tickets.
        async with http.post(f"{url}?api_key={chat_only.api_key}") as resp:
            assert resp.status == 401

    unknown_before = await _refusals(rt_1, "unknown")
    forged = "rtk-aiaas-" + "A" * 43
    for ticket in ("", "garbage", forged, forged + "x"):
        assert not await _pong(f"{rt_1.ws}?ticket={ticket}")
    assert await _refusals(rt_1, "unknown") == unknown_before + 4


async def test_expired_tickets_are_deleted(rt_1, rt_late, rt_chatty, make_tenant, admin_sessions) -> None:
    tenant = await make_tenant(scopes=RT_KEY_SCOPES)
    # On issue: rt_late (2 min ahead) sees the tenant's present-day ticket as expired and deletes it.
    first = (await create_ticket(rt_1.http, tenant.api_key))["ticket"]
    second = (await create_ticket(rt_late.http, tenant.api_key))["ticket"]
    rows = await _tickets_of(admin_sessions, tenant.id)
    assert [r.ticket_hash for r in rows] == [hashlib.sha256(second.encode()).hexdigest()]
    assert first != second

    # Periodically, for every tenant: rt_chatty's 1 s ticket is gone soon after it expired.
    other = await make_tenant(scopes=RT_KEY_SCOPES)
    await create_ticket(rt_chatty.http, other.api_key)
    assert len(await _tickets_of(admin_sessions, other.id)) == 1
    deadline = time.monotonic() + 15
    while await _tickets_of(admin_sessions, other.id):
        assert time.monotonic() < deadline, "expired ticket not purged"
        await asyncio.sleep(0.25)


async def test_tickets_are_tenant_rows_under_rls(rt_1, make_tenant, runtime_sessions) -> None:
    a, b = await make_tenant(scopes=RT_KEY_SCOPES), await make_tenant(scopes=RT_KEY_SCOPES)
    for tenant in (a, b):
        await create_ticket(rt_1.http, tenant.api_key)
    async with tenant_session(runtime_sessions, a.id) as session:
        owners = (await session.execute(text("select distinct tenant_id from realtime_tickets"))).scalars().all()
    assert owners == [a.id]
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_session(runtime_sessions, a.id) as session:
            await session.execute(
                text(
                    "insert into realtime_tickets (ticket_hash, tenant_id, api_key_id, sealed_key, created_at, "
                    "expires_at) values (:h, :t, :k, '\\x00', now(), now() + interval '1 minute')"
                ),
                {"h": "0" * 64, "t": b.id, "k": b.key_id},
            )


async def test_logs_keep_no_credentials_from_urls(rt_1, rt_chatty, make_tenant) -> None:
    tenant = await make_tenant(scopes=RT_KEY_SCOPES)
    ticket = (await create_ticket(rt_1.http, tenant.api_key))["ticket"]
    assert await _pong(f"{rt_chatty.ws}?ticket={ticket}")
    async with open_ws(rt_chatty.ws, tenant.api_key, via="query") as ws:
        await send(ws, type="ping")
        assert (await recv(ws))["type"] == "pong"
    await asyncio.sleep(0.3)  # the process writes its log lines
    log = rt_chatty.proc.proc.log_path.read_text()
    # uvicorn logged both handshakes (INFO), without their query strings.
    assert log.count("/v1/realtime/ws?[redacted]") >= 2
    assert ticket not in log and tenant.api_key not in log
    assert ticket[len("rtk-aiaas-") :] not in log and tenant.api_key[len("sk-aiaas-") :] not in log
