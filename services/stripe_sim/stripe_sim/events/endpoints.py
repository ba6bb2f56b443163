"""Events the stand-in raised: retrieve and list (`type` filter), as `GET /v1/events` on Stripe."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from stripe_sim.wire import Call, retriever, stripe_route

__all__ = ["event_routes"]

Obj = dict[str, Any]


def list_events(call: Call) -> Obj:
    params = call.params.only(["type", "limit", "starting_after", "ending_before"])
    event_type = params.text("type")

    def wanted(event: Obj) -> bool:
        if event_type is None:
            return True
        if event_type.endswith(".*"):
            return bool(event["type"].startswith(event_type[:-1]))
        return bool(event["type"] == event_type)

    return call.sim.store.page("event", params, "/v1/events", where=wanted)


def event_routes() -> list[Route]:
    return [
        stripe_route("/v1/events", {"GET": list_events}),
        stripe_route("/v1/events/{id}", {"GET": retriever("event")}),
    ]
