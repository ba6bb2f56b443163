"""Tenant API-key scopes: their names, the known set, and the checks used where keys are created.

    chat            POST /v1/chat/completions, GET /v1/models (gateway)
    billing:read    usage, invoices, preview, balance, subscription, top-up reads (billing)
    billing:manage  plan change, top-ups, alert webhook endpoint: every billing write
    analytics:read  /v1/analytics/* (analytics)
    realtime        the realtime WebSocket and realtime HTTP routes
    router          POST /v1/router/decide, POST /v1/feedback, GET/PUT /v1/router/policy, GET /v1/router/decisions
                    and /v1/router/bandit (router)
    ingestion       /v1/ingestion/* (ingestion: the tenant's knowledge base)
    orchestrator    /v1/orchestrator/* (orchestrator: start, read, resume and cancel workflow runs)

A key holds an explicit list of these; there is no wildcard. Routes declare theirs with
`aiaas.auth.require_scope`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from aiaas.errors import Unprocessable

__all__ = [
    "CHAT",
    "BILLING_READ",
    "BILLING_MANAGE",
    "ANALYTICS_READ",
    "REALTIME",
    "ROUTER",
    "INGESTION",
    "ORCHESTRATOR",
    "ALL_SCOPES",
    "DEFAULT_SCOPES",
    "ScopeName",
    "check_scopes",
]

CHAT = "chat"
BILLING_READ = "billing:read"
BILLING_MANAGE = "billing:manage"
ANALYTICS_READ = "analytics:read"
REALTIME = "realtime"
ROUTER = "router"
INGESTION = "ingestion"
ORCHESTRATOR = "orchestrator"

ALL_SCOPES: tuple[str, ...] = (
    CHAT,
    BILLING_READ,
    BILLING_MANAGE,
    ANALYTICS_READ,
    REALTIME,
    ROUTER,
    INGESTION,
    ORCHESTRATOR,
)
# What a key gets when its creator names no scopes: the least useful set.
DEFAULT_SCOPES: tuple[str, ...] = (CHAT,)

_UNKNOWN = "Unknown scope; the known scopes are: " + ", ".join(ALL_SCOPES) + "."


def _known(scope: str) -> str:
    # The message does not echo the value: error texts never repeat client input.
    if scope not in ALL_SCOPES:
        raise ValueError(_UNKNOWN)
    return scope


# A request field holding one scope name: unknown names fail validation (422), the schema lists the known ones.
ScopeName = Annotated[str, AfterValidator(_known), WithJsonSchema({"type": "string", "enum": list(ALL_SCOPES)})]


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """`scopes` without duplicates (first order kept); 422 `unknown_scope` if one is not in ALL_SCOPES."""
    checked: list[str] = []
    for scope in scopes:
        if scope not in ALL_SCOPES:
            raise Unprocessable(_UNKNOWN, code="unknown_scope", param="scopes")
        if scope not in checked:
            checked.append(scope)
    if not checked:
        raise Unprocessable("A key needs at least one scope.", code="invalid_scopes", param="scopes")
    return checked
