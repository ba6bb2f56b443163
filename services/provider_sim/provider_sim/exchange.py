"""Per-request plumbing shared by both APIs: state access, ids, body parsing, error rendering."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from provider_sim.errors import Provider, SimError, error_response, validation_error
from provider_sim.state import SimState, sim_state

__all__ = ["Exchange", "read_json_object", "read_request", "sim_endpoint"]

BodyT = TypeVar("BodyT", bound=BaseModel)

_CLIENT_ERROR_OUTCOMES = {"authentication": "unauthorized", "invalid_request": "bad_request"}


@dataclass(slots=True)
class Exchange:
    """One request being served: the request, simulator state, its id, and what we learnt."""

    request: Request
    state: SimState
    request_id: str
    model: str | None = None
    stream: bool = False

    def note_model(self, raw: dict[str, Any]) -> None:
        """Remember the requested model (before validation, so rejected requests count against it)."""
        model, stream = raw.get("model"), raw.get("stream")
        self.model = model if isinstance(model, str) and model else None
        self.stream = stream is True


def sim_endpoint(
    provider: Provider, endpoint_name: str
) -> Callable[[Callable[[Exchange], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: build its Exchange, render SimError in the provider's shape, count rejections."""

    def decorate(
        handler: Callable[[Exchange], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            exchange = Exchange(request, sim_state(request), _new_request_id(provider))
            try:
                return await handler(exchange)
            except SimError as err:
                outcome = _CLIENT_ERROR_OUTCOMES.get(err.kind)
                if outcome is not None:
                    exchange.state.stats.record(endpoint_name, exchange.model, outcome, stream=exchange.stream)
                return error_response(err, provider, exchange.request_id)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return decorate


def _new_request_id(provider: Provider) -> str:
    """A fresh request id in the provider's style."""
    return f"req_{uuid.uuid4().hex[:24]}" if provider == "anthropic" else uuid.uuid4().hex


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; SimError 400 otherwise."""
    body = await request.body()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SimError("invalid_request", f"We could not parse the JSON body of your request: {exc}") from exc
    if not isinstance(data, dict):
        raise SimError("invalid_request", "The request body must be a JSON object.")
    return data


async def read_request(exchange: Exchange, schema: type[BodyT]) -> tuple[dict[str, Any], BodyT]:
    """The raw JSON body and its validated form; notes the model on the exchange; SimError 400 if invalid."""
    raw = await read_json_object(exchange.request)
    exchange.note_model(raw)
    try:
        return raw, schema.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc) from exc
