"""Model, agent and tool registries: every PUT is a new version; bodies are validated."""

from __future__ import annotations

import uuid

from .conftest import assert_error, call


def _model(name: str, price: str = "0.15") -> dict:
    return {
        "name": name,
        "deployments": [
            {
                "name": "primary",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": "https://api.openai.com/v1",
                "credentials_ref": "vault:providers/openai",
                "input_price_per_1k": price,
                "output_price_per_1k": "0.6",
                "timeout_s": 30,
            },
            {
                "name": "backup",
                "provider": "anthropic",
                "model": "m",
                "input_price_per_1k": 0,
                "output_price_per_1k": 0,
            },
        ],
    }


async def test_model_versions(http, cp_url, new_model_alias) -> None:
    alias = new_model_alias()
    status, v1 = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", _model(alias))
    assert status == 201 and v1["version"] == 1 and v1["alias"] == alias
    status, v2 = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", _model(alias, "0.2"))
    assert status == 201 and v2["version"] == 2
    status, current = await call(http, "GET", f"{cp_url}/admin/models/{alias}")
    assert current["version"] == 2
    assert current["config"]["deployments"][0]["input_price_per_1k"] == "0.2"
    status, first = await call(http, "GET", f"{cp_url}/admin/models/{alias}?version=1")
    assert first["config"]["deployments"][0]["input_price_per_1k"] == "0.15"
    assert first["config"]["deployments"][1]["base_url"] is None
    status, listed = await call(http, "GET", f"{cp_url}/admin/models")
    assert {"alias": alias, "version": 2} == {
        k: v for k, v in next(m for m in listed["data"] if m["alias"] == alias).items() if k in ("alias", "version")
    }
    status, body = await call(http, "GET", f"{cp_url}/admin/models/{alias}?version=9")
    assert_error(status, body, 404)


async def test_model_config_is_validated(http, cp_url, new_model_alias) -> None:
    alias = new_model_alias()
    bad_price = _model(alias)
    bad_price["deployments"][0]["input_price_per_1k"] = "-1"
    dup = _model(alias)
    dup["deployments"][1]["name"] = "primary"
    unknown_provider = _model(alias)
    unknown_provider["deployments"][1]["provider"] = "sim"  # no gateway speaks it: refused here, not there
    compatible_without_url = _model(alias)
    compatible_without_url["deployments"][1]["provider"] = "openai_compatible"
    cases = [
        (_model("other-name"), 400),
        ({"name": alias, "deployments": []}, 422),
        (bad_price, 422),
        (dup, 422),
        ({**_model(alias), "secret": "x"}, 422),
        (unknown_provider, 422),
        (compatible_without_url, 422),
    ]
    for body, status in cases:
        got, resp = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", body)
        assert_error(got, resp, status)


async def test_tool_and_agent_schemas(http, cp_url) -> None:
    for kind in ("tools", "agents"):
        name = f"x-{uuid.uuid4().hex[:8]}"
        body = {
            "description": "weather lookup",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "output_schema": {"type": "object"},
        }
        status, v1 = await call(http, "PUT", f"{cp_url}/admin/{kind}/{name}", body)
        assert status == 201 and v1["version"] == 1 and v1["input_schema"]["required"] == ["city"]
        status, v2 = await call(http, "PUT", f"{cp_url}/admin/{kind}/{name}", {**body, "description": "v2"})
        assert v2["version"] == 2
        status, got = await call(http, "GET", f"{cp_url}/admin/{kind}/{name}?version=1")
        assert got["description"] == "weather lookup"
        for bad in ({"type": "nonsense"}, {"type": 12}, {"$schema": []}, {"properties": {"a": {"minimum": "x"}}}):
            got_status, resp = await call(http, "PUT", f"{cp_url}/admin/{kind}/{name}", {**body, "input_schema": bad})
            assert_error(got_status, resp, 422)
