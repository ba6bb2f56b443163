"""ChatCall.run with in-process stand-ins: the usage is recorded before the answer's last bytes, exactly once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from aiaas.auth import Principal
from gateway.catalog.schemas import Deployment, ModelAlias
from gateway.chat.request import parse_request
from gateway.chat.service import ChatCall, ChatDeps
from gateway.limits.service import LimitDecision, Settlement
from gateway.providers.base import SSE_DONE, ChatStream, Completion, Usage, sse
from gateway.providers.failover import Served
from gateway.usage.meter import RequestRecord

DEPLOYMENT = Deployment(
    name="primary", provider="openai", model="m", base_url="http://upstream", input_usd_per_1k=Decimal("1")
)
ALIAS = ModelAlias(name="chat", deployments=(DEPLOYMENT,))
ALLOWED = LimitDecision(
    allowed=True,
    retry_after_s=0.0,
    limit_requests=None,
    remaining_requests=None,
    reset_requests_s=None,
    limit_tokens=None,
    remaining_tokens=None,
    reset_tokens_s=None,
    blocked_by=None,
)


@dataclass
class _World:
    """Everything the call touched, in order."""

    log: list[str] = field(default_factory=list)
    recorded: list[dict[str, object]] = field(default_factory=list)
    settled: list[Settlement] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)


class _Catalog:
    def resolve(self, name: str) -> ModelAlias | None:
        return ALIAS if name == "chat" else None


class _Flags:
    def get_list(self, name: str, tenant: str, default: list[str]) -> list[str]:
        return default

    def is_enabled(self, name: str, tenant: str, default: bool) -> bool:
        return default

    def get_int(self, name: str, tenant: str, default: int) -> int:
        return default


class _Limiter:
    def __init__(self, world: _World) -> None:
        self._world = world

    async def acquire(self, **_: object) -> LimitDecision:
        self._world.log.append("admit")
        return ALLOWED

    def settle_soon(self, settlement: Settlement) -> None:
        self._world.settled.append(settlement)


class _Meter:
    def __init__(self, world: _World) -> None:
        self._world = world

    def record(self, record: RequestRecord, **fields: object) -> None:
        assert not record.recorded, "recorded twice"
        record.recorded = True  # as UsageMeter does: once per request
        self._world.log.append(f"record {fields['status']}")
        self._world.recorded.append(fields)


class _Failover:
    def __init__(self, world: _World, events: list[bytes] | None) -> None:
        self._world = world
        self._events = events

    async def serve(self, alias: ModelAlias, payload: dict[str, object], *, stream: bool, deadline: float) -> Served:
        self._world.log.append("serve")
        if self._events is None:
            return Served(DEPLOYMENT, 1, Completion(b'{"ok":true}', Usage(3, 4)))
        chat_stream = ChatStream(events=_iterate(self._events[1:]), usage=Usage(3, 2))
        chat_stream.completed = True
        return Served(DEPLOYMENT, 1, chat_stream, first_event=self._events[0])


async def _iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


class _Reply:
    def __init__(self, world: _World, *, leave_after: int | None = None) -> None:
        self._world = world
        self._leave_after = leave_after

    async def json(self, body: bytes, headers: Mapping[str, str]) -> None:
        self._world.log.append("reply json")
        self._world.sent.append(body)

    async def stream(self, events: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        assert "x-request-id" in headers
        try:
            async for event in events:
                self._world.log.append("send done" if event == SSE_DONE else "send event")
                self._world.sent.append(event)
                if self._leave_after is not None and len(self._world.sent) >= self._leave_after:
                    return  # the client went away
        finally:
            await events.aclose()  # type: ignore[attr-defined]  # an async generator


def _call(world: _World, body: bytes, *, events: list[bytes] | None = None) -> ChatCall:
    deps = ChatDeps(
        resolver=None,  # type: ignore[arg-type]  # the endpoint authenticates; the call never resolves keys
        catalog=_Catalog(),  # type: ignore[arg-type]
        flags=_Flags(),  # type: ignore[arg-type]
        limiter=_Limiter(world),  # type: ignore[arg-type]
        failover=_Failover(world, events),  # type: ignore[arg-type]
        meter=_Meter(world),  # type: ignore[arg-type]
        spawn=lambda coro: coro.close(),
        default_tenant_rpm=0,
        default_tenant_tpm=0,
        default_max_tokens_estimate=16,
        request_deadline_s=5.0,
    )
    principal = Principal(uuid.uuid4(), uuid.uuid4(), ("chat",), None, None, None, None)
    request, payload = parse_request(body)
    return ChatCall(deps, principal, request, payload)


async def test_a_completion_is_recorded_before_its_body_is_sent() -> None:
    world = _World()
    await _call(world, b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}').run(_Reply(world))
    assert world.log == ["admit", "serve", "record success", "reply json"]
    assert world.recorded[0]["usage"] == Usage(3, 4)
    assert [s.actual_tokens for s in world.settled] == [7]


async def test_a_stream_is_recorded_before_done_and_only_once() -> None:
    world = _World()
    events = [sse(b'{"choices":[{"delta":{"content":"a"}}]}'), sse(b'{"choices":[{"delta":{"content":"b"}}]}')]
    body = b'{"model": "chat", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    await _call(world, body, events=events).run(_Reply(world))
    assert world.log == ["admit", "serve", "send event", "send event", "record success", "send done"]
    assert len(world.recorded) == len(world.settled) == 1


async def test_a_client_leaving_mid_stream_is_recorded_as_cancelled() -> None:
    world = _World()
    events = [sse(b'{"choices":[{"delta":{"content":"a"}}]}'), sse(b'{"choices":[{"delta":{"content":"b"}}]}')]
    body = b'{"model": "chat", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    await _call(world, body, events=events).run(_Reply(world, leave_after=1))
    assert world.log == ["admit", "serve", "send event", "record cancelled"]
    assert len(world.recorded) == 1


async def test_an_unknown_model_is_refused_before_admission() -> None:
    world = _World()
    with pytest.raises(Exception, match="does not exist"):
        await _call(world, b'{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}').run(_Reply(world))
    assert world.log == []
