"""Order: lookup_order -> approve -> reserve_inventory -> charge_payment (the pivot) -> create_shipment -> notify.

- `approve` pauses the run (`interrupt()`) when the order's `amount_minor` is over the tenant's flag
  `hitl.order.refund_threshold` (the run's flags snapshot; 100000 when absent). Nothing with an effect runs in
  that node before `interrupt()`, which runs again on resume: `lookup_order` is a node of its own, checkpointed
  before it. The resume value `true` (or `{"approved": true}`) goes on; anything else ends the run with no
  effect: status `cancelled`, error `approval_denied` (the engine's reading of "false ends without effect").
- Every side-effecting step retries a failure a retry can cure with its key (forward recovery); a fatal one ends
  the run and the saga undoes what it recorded, the charge included (orchestrator/saga says why).
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from orchestrator.engine.context import RunContext
from orchestrator.graphs.common import Actions, action, context, output

__all__ = ["DEFAULT_THRESHOLD_MINOR", "THRESHOLD_FLAG", "OrderState", "approved", "build"]

THRESHOLD_FLAG = "hitl.order.refund_threshold"
DEFAULT_THRESHOLD_MINOR = 100_000


class OrderState(TypedDict, total=False):
    input: dict[str, Any]
    order: dict[str, Any]
    denied: bool
    reservation_id: str
    charge_id: str
    shipment: dict[str, Any]
    output: dict[str, Any]
    actions: Actions


def approved(value: Any) -> bool:
    """A resume value that approves: `true` or `{"approved": true}`."""
    if isinstance(value, dict):
        value = value.get("approved")
    return value is True


def _money(amount_minor: int, currency: str) -> str:
    return f"{amount_minor / 100:.2f} {currency.upper()}"


async def _lookup_order(state: OrderState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("lookup_order")
    order = await node.tool("orders.get", {"order_id": state["input"]["order_id"]})
    return {"order": order}


async def _approve(state: OrderState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = context(runtime)
    order = state["order"]
    raw = ctx.spec.flags.get(THRESHOLD_FLAG, DEFAULT_THRESHOLD_MINOR)
    threshold = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else DEFAULT_THRESHOLD_MINOR
    amount = int(order["amount_minor"])
    if amount <= threshold:
        return {"denied": False}
    node = ctx.node("approve")
    payload = {
        "question": f"Approve order {order['id']} for {_money(amount, order.get('currency', 'usd'))}?",
        "order_id": order["id"],
        "amount_minor": amount,
        "currency": order.get("currency", "usd"),
        "threshold_minor": threshold,
    }
    await node.record("interrupt", payload)  # the episode record only: idempotent, no business effect
    value = interrupt(payload)
    await node.record("resume", {"value": value}, {"approved": approved(value)})
    return {"denied": not approved(value)}


def _after_approve(state: OrderState) -> str:
    return "denied" if state.get("denied") else "reserve_inventory"


async def _denied(state: OrderState, runtime: Runtime[RunContext]) -> dict[str, Any]:  # noqa: ARG001
    order = state["order"]
    text = f"Order {order['id']} was not approved, so nothing was charged or shipped."
    return {"output": output({"order_id": order["id"], "approved": False}, text, [])}


async def _reserve_inventory(state: OrderState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("reserve_inventory")
    reservation = await node.tool("inventory.reserve", {"order_id": state["order"]["id"]})
    return {
        "reservation_id": reservation["id"],
        "actions": [action("inventory.reserve", "succeeded", reservation["id"])],
    }


async def _charge_payment(state: OrderState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("charge_payment")
    order = state["order"]
    args = {
        "order_id": order["id"],
        "amount_minor": int(order["amount_minor"]),
        "currency": order.get("currency", "usd"),
        "payment_method": state["input"].get("payment_method", "pm_card_visa"),
    }
    charge = await node.tool("payments.charge", args)
    return {"charge_id": charge["id"], "actions": [action("payments.charge", "succeeded", charge["id"])]}


async def _create_shipment(state: OrderState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("create_shipment")
    args = {
        "order_id": state["order"]["id"],
        "reservation_id": state["reservation_id"],
        "carrier": state["input"].get("carrier", "ups"),
    }
    shipment = await node.tool("shipments.create", args)
    return {
        "shipment": {"id": shipment["id"], "tracking_number": shipment.get("tracking_number")},
        "actions": [action("shipments.create", "succeeded", shipment["id"])],
    }


async def _notify(state: OrderState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    node = context(runtime).node("notify")
    order = state["order"]
    shipment = state["shipment"]
    to = state["input"].get("notify_email") or order["customer"]["email"]
    total = _money(int(order["amount_minor"]), order.get("currency", "usd"))
    text = f"Order {order['id']} is paid ({total}) and on its way: tracking number {shipment['tracking_number']}."
    message = await node.tool(
        "notify.send",
        {"channel": "email", "to": to, "subject": f"Your order {order['id']} has shipped", "body": text},
    )
    actions = [*state.get("actions", []), action("notify.send", "succeeded", message["id"])]
    reply = {
        "order_id": order["id"],
        "approved": True,
        "reservation_id": state["reservation_id"],
        "charge_id": state["charge_id"],
        "shipment_id": shipment["id"],
        "tracking_number": shipment["tracking_number"],
        "amount_minor": int(order["amount_minor"]),
        "currency": order.get("currency", "usd"),
    }
    return {"output": output(reply, text, actions), "actions": [actions[-1]]}


def build() -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(OrderState, context_schema=RunContext)
    graph.add_node("lookup_order", _lookup_order)
    graph.add_node("approve", _approve)
    graph.add_node("denied", _denied)
    graph.add_node("reserve_inventory", _reserve_inventory)
    graph.add_node("charge_payment", _charge_payment)
    graph.add_node("create_shipment", _create_shipment)
    graph.add_node("notify", _notify)
    graph.add_edge(START, "lookup_order")
    graph.add_edge("lookup_order", "approve")
    graph.add_conditional_edges("approve", _after_approve, ["denied", "reserve_inventory"])
    graph.add_edge("denied", END)
    graph.add_edge("reserve_inventory", "charge_payment")
    graph.add_edge("charge_payment", "create_shipment")
    graph.add_edge("create_shipment", "notify")
    graph.add_edge("notify", END)
    return graph.compile()
