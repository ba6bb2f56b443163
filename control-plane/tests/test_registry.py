"""Model, agent and tool registries: every PUT is a new version; bodies are validated."""

from __future__ import annotations

import uuid

from .factories import assert_error, call


def _model(name: str, price: str = "0.15") -> dict:
    return {
        "name": name,
        "deployments": [
            {
                "name": "primary",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": "https://api.openai.com/v1",
                "credentials_ref": "openai",
                "input_usd_per_1k": price,
                "output_usd_per_1k": "0.6",
                "timeout_s": 20,
            },
            {
                "name": "backup",
                "provider": "anthropic",
                "model": "m",
                "input_usd_per_1k": 0,
                "output_usd_per_1k": 0,
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
    assert current["config"]["deployments"][0]["input_usd_per_1k"] == "0.2"
    status, first = await call(http, "GET", f"{cp_url}/admin/models/{alias}?version=1")
    assert first["config"]["deployments"][0]["input_usd_per_1k"] == "0.15"
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
    bad_price["deployments"][0]["input_usd_per_1k"] = "-1"
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


async def test_price_names_without_their_unit_are_refused(http, cp_url, new_model_alias) -> None:
    alias = new_model_alias()
    old = _model(alias)
    dep = old["deployments"][0]
    dep["input_price_per_1k"] = dep.pop("input_usd_per_1k")
    got, resp = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", old)
    assert_error(got, resp, 422)
    assert "input_usd_per_1k" in resp["error"]["message"] and "US dollars" in resp["error"]["message"]


def _one_deployment(name: str, provider: str, base_url: str | None, credentials_ref: str | None) -> dict:
    deployment = {"name": "d", "provider": provider, "model": "m", "input_usd_per_1k": 0, "output_usd_per_1k": 0}
    return {"name": name, "deployments": [{**deployment, "base_url": base_url, "credentials_ref": credentials_ref}]}


async def test_a_credential_may_only_name_its_own_hosts(http, cp_url, new_model_alias) -> None:
    # cp_url's control plane declares `groq` -> api.groq.com (PROVIDER_CREDENTIAL_HOSTS) over the built-ins.
    allowed = [
        ("openai", "https://api.openai.com/v1", "openai"),
        ("openai", None, None),  # the provider's public endpoint, with its own credential
        ("anthropic", None, "anthropic"),
        ("openai_compatible", "https://api.groq.com/openai/v1", "groq"),
        ("openai", "http://127.0.0.1:8090/v1", "sim"),
    ]
    for provider, base_url, ref in allowed:
        alias = new_model_alias()
        status, body = await call(
            http, "PUT", f"{cp_url}/admin/models/{alias}", _one_deployment(alias, provider, base_url, ref)
        )
        assert status == 201, (provider, base_url, ref, body)
    refused = [
        ("openai", "https://collector.example/v1", "openai", "collector.example"),
        ("openai", "http://api.openai.com/v1", "openai", "api.openai.com"),  # https only
        ("openai", "https://api.openai.com.collector.example/v1", None, "api.openai.com.collector.example"),
        ("openai_compatible", "https://collector.example/v1", "groq", "collector.example"),
        ("openai", None, "sim", "api.openai.com"),  # the simulator's key is for the simulator
        ("openai", "https://api.openai.com/v1", "vault:providers/openai", "api.openai.com"),  # no hosts declared
        ("anthropic", "https://api.openai.com", "anthropic", "api.openai.com"),
    ]
    for provider, base_url, ref, host in refused:
        alias = new_model_alias()
        status, body = await call(
            http, "PUT", f"{cp_url}/admin/models/{alias}", _one_deployment(alias, provider, base_url, ref)
        )
        assert_error(status, body, 422, "credential_host_not_allowed")
        error = body["error"]
        assert error["param"] == "deployments.0.base_url"
        assert f"'{ref or provider}'" in error["message"] and f"'{host}'" in error["message"], error
        status, _ = await call(http, "GET", f"{cp_url}/admin/models/{alias}")
        assert status == 404  # nothing stored, nothing published


async def test_timeouts_without_room_for_failover_are_refused(http, cp_url, new_model_alias) -> None:
    # Gateway defaults: 60 s deadline, 2 attempts, 5 s kept for each later deployment: 2 x 28 s + back-off leaves < 5 s.
    alias = new_model_alias()
    no_room = _model(alias)
    no_room["deployments"][0]["timeout_s"] = 28
    status, body = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", no_room)
    assert_error(status, body, 422, "no_room_for_failover")
    assert body["error"]["param"] == "deployments.0.timeout_s"
    assert "'primary'" in body["error"]["message"] and "60 s request deadline" in body["error"]["message"]
    status, _ = await call(http, "GET", f"{cp_url}/admin/models/{alias}")
    assert status == 404  # nothing stored, nothing published

    slow_first_byte = _model(alias)
    slow_first_byte["deployments"][1]["first_byte_timeout_s"] = 40  # over its (default 25 s) attempt timeout
    status, body = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", slow_first_byte)
    assert_error(status, body, 422, "no_room_for_failover")
    assert body["error"]["param"] == "deployments.1.first_byte_timeout_s"

    # The last deployment has no one after it: a long timeout there is fine; so are 2 x 27 s + 5 s <= 60 s.
    fits = _model(alias)
    fits["deployments"][0]["timeout_s"] = 27
    fits["deployments"][0]["first_byte_timeout_s"] = 8
    fits["deployments"][1]["timeout_s"] = 600
    status, body = await call(http, "PUT", f"{cp_url}/admin/models/{alias}", fits)
    assert status == 201, body
    assert body["config"]["deployments"][0]["first_byte_timeout_s"] == 8


async def test_deprecation_and_deletion_are_versions_with_their_admin(http, cp_url, new_model_alias, admin_key) -> None:
    alias = new_model_alias()
    url = f"{cp_url}/admin/models/{alias}"
    status, body = await call(http, "POST", f"{url}/deprecate", {})
    assert_error(status, body, 404, "model_not_found")
    status, v1 = await call(http, "PUT", url, _model(alias))
    assert status == 201 and v1["status"] == "active" and v1["replacement"] is None
    for bad, code in (({"replacement": alias}, "invalid_replacement"), ({"replacement": "Bad Name"}, None)):
        status, body = await call(http, "POST", f"{url}/deprecate", bad)
        assert_error(status, body, None, code)
    status, v2 = await call(http, "POST", f"{url}/deprecate", {"replacement": "gpt-4o"})
    assert status == 201 and (v2["version"], v2["status"], v2["replacement"]) == (2, "deprecated", "gpt-4o")
    assert v2["config"] == v1["config"] and v2["created_by"] == admin_key.name
    status, v3 = await call(http, "DELETE", url)
    assert status == 200 and (v3["version"], v3["status"], v3["created_by"]) == (3, "deleted", admin_key.name)
    status, listed = await call(http, "GET", f"{cp_url}/admin/models")
    assert alias not in {m["alias"] for m in listed["data"]}
    status, body = await call(http, "DELETE", url)
    assert_error(status, body, 404, "model_not_found")
    status, history = await call(http, "GET", f"{url}?version=2")
    assert history["status"] == "deprecated" and history["created_by"] == admin_key.name


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
        # Found by the OpenAPI fuzz: NUL (Postgres refuses it in jsonb and text) and integers beyond 64 bits
        # (orjson refuses them) were 500s.
        for bad in ({"properties": {"a\u0000": {}}}, {"enum": ["\u0000"]}, {"maximum": 2**70}):
            got_status, resp = await call(http, "PUT", f"{cp_url}/admin/{kind}/{name}", {**body, "output_schema": bad})
            assert_error(got_status, resp, 422)
        got_status, resp = await call(http, "PUT", f"{cp_url}/admin/{kind}/{name}", {**body, "description": "a\u0000"})
        assert_error(got_status, resp, 422)
