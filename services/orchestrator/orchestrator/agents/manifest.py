"""Agent manifests: which graph an agent runs, pinned versions, its model alias and its I/O JSON Schemas.

A run pins the manifest it started with (`orch_runs.agent_version`, `versions`, `model_alias`): a manifest
published later never changes a run in flight. The built-in manifests below are what an agent is when the
control plane's agent registry has no manifest for it; a registry entry (`PUT /admin/agents/{name}` with a
`manifest`) overrides them (`orchestrator.agents.registry`).

Every agent answers `{reply, text, actions[]}` (`OUTPUT_SCHEMA`): `reply` is the agent's structured answer,
`text` what a customer reads, `actions` the business tools that took effect, in order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AgentManifest", "BUILTIN_MANIFESTS", "GraphName", "OUTPUT_SCHEMA"]

GraphName = Literal["faq", "order", "lead"]

_ACTION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tool", "status"],
    "properties": {
        "tool": {"type": "string", "minLength": 1},
        "status": {"type": "string", "enum": ["succeeded", "failed", "compensated", "skipped"]},
        "ref": {"type": ["string", "null"], "description": "The backend object's id (charge, shipment, lead...)"},
    },
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["reply", "text", "actions"],
    "properties": {
        "reply": {"type": "object"},
        "text": {"type": "string"},
        "actions": {"type": "array", "items": _ACTION},
    },
}

_ORDER_ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"}
_EMAIL = {"type": "string", "pattern": r"^[^@\s]{1,64}@[^@\s]{1,255}$", "maxLength": 320}

FAQ_INPUT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["question"],
    "properties": {
        "question": {"type": "string", "minLength": 1, "maxLength": 4000},
        "conversation_id": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}

ORDER_INPUT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["order_id"],
    "properties": {
        "order_id": _ORDER_ID,
        "payment_method": {"type": "string", "minLength": 1, "maxLength": 100, "default": "pm_card_visa"},
        "carrier": {"type": "string", "enum": ["ups", "dhl", "fedex", "usps"], "default": "ups"},
        "notify_email": _EMAIL,
        "message": {"type": "string", "maxLength": 4000},
    },
}

LEAD_INPUT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["email", "name", "message"],
    "properties": {
        "email": _EMAIL,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "company": {"type": "string", "maxLength": 200},
        "phone": {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$"},
        "message": {"type": "string", "minLength": 1, "maxLength": 4000},
        "callback_at": {"type": "string", "format": "date-time"},
    },
}


class AgentManifest(BaseModel):
    """One version of an agent. `tools` maps each tool the graph may call to the tool manifest version it pins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    version: int = Field(ge=1)
    graph: GraphName
    graph_version: str = Field(min_length=1, max_length=100)
    prompt_version: str = Field(min_length=1, max_length=100)
    model_alias: str = Field(min_length=1, max_length=200)
    tools: dict[str, str] = Field(default_factory=dict)
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] = Field(default_factory=lambda: dict(OUTPUT_SCHEMA))
    # Checkpoint durability: "sync" writes each step's checkpoint before the next step starts (Order, Lead: a
    # crash loses no completed step); "exit" writes only when the run stops (FAQ may, behind a flag: faster).
    durability: Literal["sync", "exit"] = "sync"

    def versions(self) -> dict[str, Any]:
        """What a run pins besides the alias: `orch_runs.versions`."""
        return {
            "agent_version": self.version,
            "graph": self.graph,
            "graph_version": self.graph_version,
            "prompt_version": self.prompt_version,
            "tools": dict(self.tools),
        }


BUILTIN_MANIFESTS: dict[str, AgentManifest] = {
    "faq": AgentManifest(
        name="faq",
        version=1,
        graph="faq",
        graph_version="faq-v1",
        prompt_version="faq-prompts-v1",
        model_alias="gpt-4o-mini",
        tools={"kb.search": "1"},
        input_schema=FAQ_INPUT,
    ),
    "order": AgentManifest(
        name="order",
        version=1,
        graph="order",
        graph_version="order-v1",
        prompt_version="order-prompts-v1",
        model_alias="gpt-4o-mini",
        tools={
            "orders.get": "1",
            "inventory.reserve": "1",
            "inventory.release": "1",
            "payments.charge": "1",
            "payments.refund": "1",
            "shipments.create": "1",
            "shipments.cancel": "1",
            "notify.send": "1",
        },
        input_schema=ORDER_INPUT,
    ),
    "lead": AgentManifest(
        name="lead",
        version=1,
        graph="lead",
        graph_version="lead-v1",
        prompt_version="lead-prompts-v1",
        model_alias="gpt-4o-mini",
        tools={
            "crm.find_leads": "1",
            "crm.create_lead": "1",
            "crm.schedule_callback": "1",
            "crm.cancel_callback": "1",
            "notify.send": "1",
        },
        input_schema=LEAD_INPUT,
    ),
}
