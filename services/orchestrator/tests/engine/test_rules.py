"""Pure parts of the engine: durability per graph, FAQ markers and categories, the compensation map, approvals."""

from __future__ import annotations

import uuid

from orchestrator.agents.manifest import BUILTIN_MANIFESTS
from orchestrator.engine import RunSpec, durability_for
from orchestrator.graphs.faq import classify_by_rules, with_markers
from orchestrator.graphs.order import approved
from orchestrator.tools_catalog import TOOLS, compensation_for, tool_headers


def _spec(agent: str, flags: dict[str, object] | None = None) -> RunSpec:
    manifest = BUILTIN_MANIFESTS[agent]
    return RunSpec(uuid.uuid4(), uuid.uuid4(), manifest, manifest.model_alias, 1, {}, flags or {})


def test_durability() -> None:
    assert durability_for(_spec("order"), "exit") == "sync"
    assert durability_for(_spec("lead", {"orch.faq.durability_exit": True}), "exit") == "sync"
    assert durability_for(_spec("faq"), "sync") == "sync"
    assert durability_for(_spec("faq", {"orch.faq.durability_exit": True}), "sync") == "exit"
    assert durability_for(_spec("faq"), "exit") == "exit"


def test_faq_markers_and_rules() -> None:
    assert with_markers("Thirty days [2].", 3) == "Thirty days [2]."
    assert with_markers("Thirty days [9].", 2) == "Thirty days [9]. [1][2]"
    assert with_markers("amber river", 1) == "amber river [1]"
    assert classify_by_rules("Where is my parcel?") == "shipping"
    assert classify_by_rules("Can I get a refund?") == "returns"
    assert classify_by_rules("Hello") == "other"


def test_compensations_and_headers() -> None:
    assert compensation_for("payments.charge", {}, {"id": "ch_1"}) == {
        "tool": "payments.refund",
        "args": {"charge_id": "ch_1"},
    }
    assert compensation_for("inventory.reserve", {}, {"id": "res_1"}) == {
        "tool": "inventory.release",
        "args": {"reservation_id": "res_1"},
    }
    assert compensation_for("notify.send", {}, {"id": "msg_1"}) is None
    assert all(TOOLS[name].side_effect for name in ("payments.refund", "shipments.cancel", "crm.cancel_callback"))
    assert tool_headers(TOOLS["orders.get"], "t-1", "sk-admin-x") == {"X-Toolbox-Tenant": "t-1"}
    search = tool_headers(TOOLS["kb.search"], "t-1", "sk-admin-x")
    assert search == {"Authorization": "Bearer sk-admin-x", "x-aiaas-tenant-id": "t-1"}


def test_approval_values() -> None:
    assert approved(True) and approved({"approved": True})
    assert not approved(False) and not approved("yes") and not approved({"approved": "true"}) and not approved(None)
