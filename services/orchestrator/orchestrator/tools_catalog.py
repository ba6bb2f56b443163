"""The business tools the graphs call: one `ToolManifest` per toolbox operation, plus `kb.search`, and the saga's
compensation map.

Dependencies are `toolbox` (the tenants' business systems, `ORCH_TOOLBOX_URL`) and `ingestion` (the knowledge
base's search, `ORCH_INGESTION_URL`): `base_urls(...)` maps them for `aiaas.tools.ToolAdapter`. The toolbox
names its tenant by `X-Toolbox-Tenant`; ingestion takes the orchestrator's service credential with
`x-aiaas-tenant-id` (`tool_headers`).

A succeeded side-effecting call whose tool is in `COMPENSATIONS` records, with its outcome, the tool and arguments
that undo it (`compensation_for`); the saga runs those in reverse order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiaas.service_callers import TENANT_HEADER
from aiaas.tools import ToolManifest

__all__ = [
    "COMPENSATIONS",
    "INGESTION",
    "TOOLBOX",
    "TOOLS",
    "TOOLBOX_TENANT_HEADER",
    "Compensation",
    "base_urls",
    "compensation_for",
    "tool_headers",
]

TOOLBOX = "toolbox"
INGESTION = "ingestion"
TOOLBOX_TENANT_HEADER = "X-Toolbox-Tenant"


def _tool(name: str, method: str, path: str, *, side_effect: bool = False, dependency: str = TOOLBOX) -> ToolManifest:
    return ToolManifest.model_validate(
        {"name": name, "dependency": dependency, "method": method, "path": path, "side_effect": side_effect}
    )


TOOLS: dict[str, ToolManifest] = {
    tool.name: tool
    for tool in (
        _tool("orders.get", "GET", "/v1/orders/{order_id}"),
        _tool("inventory.reserve", "POST", "/v1/inventory/reservations", side_effect=True),
        _tool("inventory.release", "POST", "/v1/inventory/reservations/{reservation_id}/release", side_effect=True),
        _tool("payments.charge", "POST", "/v1/payments/charges", side_effect=True),
        _tool("payments.refund", "POST", "/v1/payments/refunds", side_effect=True),
        _tool("shipments.create", "POST", "/v1/shipments", side_effect=True),
        _tool("shipments.cancel", "POST", "/v1/shipments/{shipment_id}/cancel", side_effect=True),
        _tool("crm.find_leads", "GET", "/v1/crm/leads"),
        _tool("crm.create_lead", "POST", "/v1/crm/leads", side_effect=True),
        _tool("crm.schedule_callback", "POST", "/v1/crm/leads/{lead_id}/callbacks", side_effect=True),
        _tool("crm.cancel_callback", "POST", "/v1/crm/callbacks/{callback_id}/cancel", side_effect=True),
        _tool("notify.send", "POST", "/v1/notify/messages", side_effect=True),
        # A search changes nothing: a POST only because its query is a body.
        _tool("kb.search", "POST", "/v1/ingestion/search", dependency=INGESTION),
    )
}


@dataclass(frozen=True)
class Compensation:
    """The tool that undoes another, and how its arguments follow from the original call's arguments and result."""

    tool: str
    args: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


COMPENSATIONS: dict[str, Compensation] = {
    "inventory.reserve": Compensation("inventory.release", lambda _args, result: {"reservation_id": result["id"]}),
    "payments.charge": Compensation("payments.refund", lambda _args, result: {"charge_id": result["id"]}),
    "shipments.create": Compensation("shipments.cancel", lambda _args, result: {"shipment_id": result["id"]}),
    "crm.schedule_callback": Compensation("crm.cancel_callback", lambda _args, result: {"callback_id": result["id"]}),
}


def compensation_for(tool: str, args: Mapping[str, Any], result: Any) -> dict[str, Any] | None:
    """`{"tool", "args"}` that undoes a succeeded call of `tool`, or None when it has no compensation."""
    comp = COMPENSATIONS.get(tool)
    if comp is None or not isinstance(result, Mapping) or "id" not in result:
        return None
    return {"tool": comp.tool, "args": comp.args(args, result)}


def base_urls(*, toolbox_url: str, ingestion_url: str) -> dict[str, str]:
    """`ToolAdapter(base_urls=...)` for the orchestrator's two dependencies."""
    return {TOOLBOX: toolbox_url, INGESTION: ingestion_url}


def tool_headers(tool: ToolManifest, tenant_id: str, service_key: str) -> dict[str, str]:
    """Who a call is for: the toolbox's tenant header, or the service credential and tenant for ingestion."""
    if tool.dependency == INGESTION:
        return {"Authorization": f"Bearer {service_key}", TENANT_HEADER: tenant_id}
    return {TOOLBOX_TENANT_HEADER: tenant_id}
