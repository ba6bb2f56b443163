"""Manifests on registry versions (migration 0030_registry_manifests): `PUT /admin/agents/{name}` with a
`manifest` stores it numbered as the version and with the entry's I/O schemas; a manifest that does not fit (name,
graph, schemas, fields) is refused and nothing is stored; tools take the tool adapter's manifest."""

from __future__ import annotations

import uuid
from typing import Any

from .factories import assert_error, call

_INPUT = {"type": "object", "required": ["question"], "properties": {"question": {"type": "string"}}}
_OUTPUT = {"type": "object"}


def _agent(name: str, **manifest: Any) -> dict[str, Any]:
    return {
        "description": "FAQ with a stronger model",
        "input_schema": _INPUT,
        "output_schema": _OUTPUT,
        "manifest": {
            "name": name,
            "graph": "faq",
            "graph_version": "faq-v2",
            "prompt_version": "faq-prompts-v2",
            "model_alias": "gpt-4o",
            "tools": {"kb.search": "1"},
            **manifest,
        },
    }


async def test_an_agent_version_carries_its_manifest(http, cp_url) -> None:
    name = f"faq-{uuid.uuid4().hex[:8]}"
    status, plain = await call(http, "PUT", f"{cp_url}/admin/agents/{name}", {**_agent(name), "manifest": None})
    assert status == 201 and plain["version"] == 1 and plain["manifest"] is None
    status, v2 = await call(http, "PUT", f"{cp_url}/admin/agents/{name}", _agent(name, version=7))
    assert status == 201 and v2["version"] == 2, v2
    assert v2["manifest"] == {
        "name": name,
        "version": 2,  # the registry's number, not the one sent
        "graph": "faq",
        "graph_version": "faq-v2",
        "prompt_version": "faq-prompts-v2",
        "model_alias": "gpt-4o",
        "tools": {"kb.search": "1"},
        "input_schema": _INPUT,
        "output_schema": _OUTPUT,
        "durability": "sync",
    }
    status, current = await call(http, "GET", f"{cp_url}/admin/agents/{name}")
    assert status == 200 and current["manifest"] == v2["manifest"]
    status, first = await call(http, "GET", f"{cp_url}/admin/agents/{name}?version=1")
    assert first["manifest"] is None
    status, listed = await call(http, "GET", f"{cp_url}/admin/agents")
    assert next(entry for entry in listed["data"] if entry["name"] == name)["manifest"]["version"] == 2


async def test_a_manifest_that_does_not_fit_is_refused(http, cp_url) -> None:
    name = f"faq-{uuid.uuid4().hex[:8]}"
    cases = [
        (_agent("other-agent"), 400, "name_mismatch"),
        (_agent(name, input_schema={"type": "object"}), 422, "manifest_schema_mismatch"),
        (_agent(name, graph="poetry"), 422, None),
        (_agent(name, model_alias=""), 422, None),
        (_agent(name, secret="x"), 422, None),
        (_agent(name, model_alias="nul\x00"), 422, None),
        (_agent(name, durability="never"), 422, None),
    ]
    for body, expected, code in cases:
        status, answer = await call(http, "PUT", f"{cp_url}/admin/agents/{name}", body)
        assert_error(status, answer, expected, code)
    status, _ = await call(http, "GET", f"{cp_url}/admin/agents/{name}")
    assert status == 404  # nothing stored
    # The same input schema sent twice is fine.
    status, stored = await call(http, "PUT", f"{cp_url}/admin/agents/{name}", _agent(name, input_schema=_INPUT))
    assert status == 201 and stored["manifest"]["input_schema"] == _INPUT


async def test_a_tool_version_carries_the_adapters_manifest(http, cp_url) -> None:
    name = f"orders.get-{uuid.uuid4().hex[:6]}"
    manifest = {"name": name, "dependency": "orders", "method": "GET", "path": "/orders/{order_id}"}
    body = {"input_schema": {"type": "object"}, "output_schema": {"type": "object"}, "manifest": manifest}
    status, stored = await call(http, "PUT", f"{cp_url}/admin/tools/{name}", body)
    assert status == 201, stored
    assert stored["manifest"]["path"] == "/orders/{order_id}" and stored["manifest"]["limits"]["concurrency"] == 10
    assert "version" not in stored["manifest"]
    bad_path = {**body, "manifest": {**manifest, "path": "orders"}}
    status, answer = await call(http, "PUT", f"{cp_url}/admin/tools/{name}", bad_path)
    assert_error(status, answer, 422)
