"""Getting answers onto the wire: pacing, held requests, and deliberately broken responses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from provider_sim.errors import SimError
from provider_sim.exchange import Exchange
from provider_sim.faults import Fault
from provider_sim.state import Behaviour

__all__ = [
    "json_response",
    "stream_response",
    "Frame",
    "SSEResponse",
    "TruncatedResponse",
    "paced",
    "start_answer",
    "until_drop",
    "wait_generation",
]

_log = logging.getLogger("provider_sim")

# One SSE frame and whether it carries a generated token (tokens are paced and counted for drops).
Frame = tuple[bytes, bool]

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def _hold_until_disconnect(request: Request, seconds: float) -> None:
    """Wait until the client disconnects or `seconds` pass, whichever is first."""
    with anyio.move_on_after(seconds):
        while (await request.receive())["type"] != "http.disconnect":
            continue


async def _apply_status_fault(request: Request, fault: Fault | None, retry_after_s: int, hold_s: float) -> None:
    """Raise the SimError for error-status faults; hold the request open for "timeout"."""
    if fault is None or fault.kind == "drop_stream":
        return
    if fault.kind == "429":
        raise SimError(
            "rate_limit",
            "Rate limit reached for requests (simulated).",
            headers={"retry-after": str(retry_after_s)},
        )
    if fault.kind == "500":
        raise SimError("server", "The server had an error while processing your request (simulated).")
    if fault.kind == "529":
        raise SimError("overloaded", "Overloaded (simulated).")
    await _hold_until_disconnect(request, hold_s)
    raise SimError("timeout", "Request timed out (simulated).")


async def start_answer(
    exchange: Exchange, behaviour: Behaviour, endpoint: str, prompt_tokens: int, completion_tokens: int
) -> None:
    """Count the request, apply error/timeout faults, then wait out the time to first token."""
    state = exchange.state
    fault = behaviour.fault
    if fault is None:
        state.stats.record(
            endpoint,
            exchange.model,
            "ok",
            stream=exchange.stream,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
    else:
        state.stats.record(endpoint, exchange.model, f"fault_{fault.kind}", stream=exchange.stream)
        await _apply_status_fault(exchange.request, fault, state.settings.retry_after_s, state.settings.timeout_hold_s)
    if behaviour.ttft_s > 0:
        await asyncio.sleep(behaviour.ttft_s)


async def wait_generation(behaviour: Behaviour, tokens: int) -> None:
    """For non-streaming answers: wait as long as generating `tokens` after the first would take."""
    if behaviour.token_delay_s > 0 and tokens > 1:
        await asyncio.sleep(behaviour.token_delay_s * (tokens - 1))


async def paced(frames: Iterable[Frame], behaviour: Behaviour) -> AsyncIterator[bytes]:
    """Yield frames, sleeping `token_delay_s` before every token frame after the first."""
    delay = behaviour.token_delay_s
    first_token_sent = False
    for body, is_token in frames:
        if is_token:
            if first_token_sent and delay > 0:
                await asyncio.sleep(delay)
            first_token_sent = True
        yield body


def until_drop(frames: Iterable[Frame], after_tokens: int) -> Iterator[Frame]:
    """Frames up to and including the `after_tokens`-th token frame (none after it)."""
    sent = 0
    for frame in frames:
        if frame[1]:
            if sent >= after_tokens:
                return
            sent += 1
        yield frame


class SSEResponse(StreamingResponse):
    """`text/event-stream` response; with `complete=False` the body is never terminated.

    Returning without the final empty body message makes uvicorn close the
    connection mid-stream, which is what a dropped upstream stream looks like.
    """

    def __init__(self, content: AsyncIterator[bytes], headers: dict[str, str], *, complete: bool = True):
        super().__init__(content, media_type="text/event-stream", headers={**_SSE_HEADERS, **headers})
        self.complete = complete

    async def stream_response(self, send: Send) -> None:
        """Send the frames, then end the body only if the stream is meant to complete."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if self.complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            _log.warning("drop_stream fault: cutting the stream (uvicorn reports an incomplete response)")


class TruncatedResponse(Response):
    """A JSON response whose connection is cut after half of the promised body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send headers (with the full content-length) and half the body, then stop."""
        _log.warning("drop_stream fault: cutting the response (uvicorn reports an incomplete response)")
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})


def stream_response(frames: Iterator[Frame], behaviour: Behaviour, headers: dict[str, str]) -> SSEResponse:
    """Paced SSE response, cut after `drop_after` token frames when a drop_stream fault applies."""
    if behaviour.drop_after is not None:
        frames = until_drop(frames, behaviour.drop_after)
    return SSEResponse(paced(frames, behaviour), headers, complete=behaviour.drop_after is None)


def json_response(payload: bytes, behaviour: Behaviour, headers: dict[str, str]) -> Response:
    """JSON response, truncated mid-body when a drop_stream fault applies."""
    response_class = Response if behaviour.drop_after is None else TruncatedResponse
    return response_class(payload, media_type="application/json", headers=headers)
