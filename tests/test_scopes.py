"""Scopes on every tenant route: a walk over each HTTP service's OpenAPI, with real processes and real keys.

Every operation is public by name (PUBLIC), an admin route (`/admin...`), or declares exactly one tenant
scope; a key of the same tenant holding every scope but that one gets 403 `insufficient_scope` naming it,
and a key holding it does not get 403. A chat-only key cannot write anything in billing, and the realtime
socket refuses a key without `realtime`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aiaas import clock
from aiaas.db import admin_session
from aiaas.roles import process_env
from aiaas.scopes import ALL_SCOPES, ANALYTICS_READ, BILLING_MANAGE, BILLING_READ, CHAT, REALTIME
from aiaas.tenancy import create_api_key
from aiaas_testing import InfraUrls, ServiceProcess, TenantWithKey, free_port
from aiaas_testing.realtime import close_code, open_ws, recv, send

# Reachable without a tenant key, each for a stated reason.
PUBLIC = {
    "/health/live": "liveness probe",
    "/health/ready": "readiness probe",
    "/webhooks/stripe": "authenticated by the Stripe-Signature header",
    "/metrics": "Prometheus scrape (on the metrics listener where one exists)",
}
# Every HTTP listener a tenant or an operator can reach: (process name in aiaas.roles, module).
SERVICES = [
    ("gateway", "gateway"),
    ("billing", "billing"),
    ("billing-admin", "billing.admin"),
    ("analytics", "analytics"),
    ("analytics-admin", "analytics.admin"),
    ("realtime", "realtime"),
    ("control-plane", "control_plane"),
    ("router", "router"),
    ("router-admin", "router.admin"),
    ("ingestion", "ingestion"),
    ("orchestrator", "orchestrator"),
]
_METHODS = ("get", "put", "post", "patch", "delete")
# Bodies a handler accepts, for operations whose minimal schema-derived body would say little.
KNOWN_BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/chat/completions"): {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "scope walk"}],
        "max_tokens": 5,
    },
    ("post", "/v1/billing/subscription"): {"plan": "free"},
    ("post", "/v1/billing/balance/top-ups"): {"amount_minor": 100},
    ("put", "/v1/billing/alerts"): {"url": "http://127.0.0.1:9/scope-walk"},
    ("post", "/v1/orchestrator/runs"): {
        "agent": "faq",
        "input": {"question": "scope walk"},
        "idempotency_key": "scope-walk",
    },
}


@dataclass(frozen=True)
class Operation:
    service: str
    base_url: str
    method: str
    path: str
    spec: dict[str, Any]
    components: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.service} {self.method.upper()} {self.path}"

    def scopes(self) -> list[str]:
        """The scopes named in the operation's security requirements."""
        return sorted(
            {scope for requirement in self.spec.get("security", []) for s in requirement.values() for scope in s}
        )


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory, infra_urls: InfraUrls, stack_models_file: Path, provider_sim: str
) -> Iterator[dict[str, str]]:
    """Each HTTP service as a real process on the shared Postgres, NATS and Redis: name -> base URL."""
    run_dir = tmp_path_factory.mktemp("scopes")
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "ADMIN_DATABASE_URL": infra_urls.admin_database_url,
        "NATS_URL": infra_urls.nats_url,
        "REDIS_URL": infra_urls.redis_url,
        "GATEWAY_MODELS_FILE": str(stack_models_file),
        "GATEWAY_PROVIDER_SIM_URL": provider_sim,
        "GATEWAY_AUTH_CACHE_TTL_S": "0.5",
        "BILLING_ALERT_ALLOW_INTERNAL_URLS": "true",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "LOG_LEVEL": "WARNING",
    }
    procs: list[ServiceProcess] = []
    urls: dict[str, str] = {}
    try:
        for name, module in SERVICES:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            extra = {"REALTIME_GATEWAY_URL": urls["gateway"]} if name == "realtime" else {}
            procs.append(
                ServiceProcess(
                    ["-m", module, "--host", "127.0.0.1", "--port", str(port)],
                    # Only the DSNs of the process's roles, as everywhere else (aiaas.roles).
                    env=process_env(name.replace("-", "_"), {**os.environ, **env, **extra}),
                    log_path=run_dir / f"{name}.log",
                    ready_url=f"{url}/health/ready",
                    inherit_env=False,
                ).start()
            )
            urls[name] = url
        yield urls
    finally:
        for proc in reversed(procs):
            proc.stop()


async def _operations(http: aiohttp.ClientSession, services: dict[str, str]) -> list[Operation]:
    found = []
    for name, base_url in services.items():
        async with http.get(f"{base_url}/openapi.json") as resp:
            assert resp.status == 200, name
            spec = await resp.json()
        for path, item in spec["paths"].items():
            for method in _METHODS:
                if method in item:
                    found.append(Operation(name, base_url, method, path, item[method], spec.get("components", {})))
    return found


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _sample(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A minimal value the schema accepts, for the common shapes (plausible, not exhaustive)."""
    schema = _resolve(schema, components)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [_resolve(s, components) for s in schema[key]]
            return _sample(next((s for s in options if s.get("type") != "null"), options[0]), components)
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _sample(props[name], components) for name in schema.get("required", []) if name in props}
    if kind == "array":
        return [_sample(schema.get("items", {}), components) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date-time":
        return clock.now().isoformat()
    if fmt == "date":
        return clock.now().date().isoformat()
    return "x" * max(1, int(schema.get("minLength", 1)))


def _request(op: Operation) -> dict[str, Any]:
    """URL, query and JSON body for one call of `op` with plausible values."""
    path, query = op.path, {}
    now = clock.now()
    for param in op.spec.get("parameters", []):
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", str(_sample(param.get("schema", {}), op.components)))
        elif param["in"] == "query" and param.get("required"):
            if param["name"] in ("start", "end"):
                query[param["name"]] = (now - timedelta(hours=1) if param["name"] == "start" else now).isoformat()
            else:
                query[param["name"]] = str(_sample(param.get("schema", {}), op.components))
    request: dict[str, Any] = {"url": op.base_url + path, "params": query}
    if "requestBody" in op.spec:
        body = KNOWN_BODIES.get((op.method, op.path))
        if body is None:
            content = op.spec["requestBody"].get("content", {}).get("application/json", {})
            body = _sample(content.get("schema", {}), op.components)
        request["json"] = body
    return request


async def _call(http: aiohttp.ClientSession, op: Operation, key: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.request(op.method.upper(), headers=headers, **_request(op)) as resp:
        body = await resp.json(content_type=None) if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def _key(admin_sessions, tenant: TenantWithKey, scopes: list[str]) -> str:
    """Another key of `tenant` holding exactly `scopes`."""
    async with admin_session(admin_sessions) as session:
        _, new = await create_api_key(session, tenant_id=tenant.id, name=f"scopes {'+'.join(scopes)}", scopes=scopes)
    return new.plaintext


def _assert_refused(status: int, body: Any, scope: str, what: str) -> None:
    assert status == 403, (what, status, body)
    assert body["error"]["code"] == "insufficient_scope", (what, body)
    assert body["error"]["type"] == "permission_error", (what, body)
    assert body["error"]["message"] == f"This key lacks the '{scope}' scope.", (what, body)


async def test_every_route_is_public_admin_or_declares_one_scope_and_refuses_keys_without_it(
    services, make_tenant, admin_sessions
):
    tenant = await make_tenant(scopes=list(ALL_SCOPES))
    all_but = {scope: await _key(admin_sessions, tenant, [s for s in ALL_SCOPES if s != scope]) for scope in ALL_SCOPES}
    declared: dict[str, set[str]] = {}
    seen: dict[str, int] = {}
    async with aiohttp.ClientSession() as http:
        operations = await _operations(http, services)
        for op in operations:
            scopes = op.scopes()
            if op.path in PUBLIC or op.path.startswith("/admin"):
                assert not set(scopes) & set(ALL_SCOPES), f"{op.name} is public or admin yet declares {scopes}"
                continue
            assert len(scopes) == 1 and scopes[0] in ALL_SCOPES, f"{op.name} declares {scopes}, not one tenant scope"
            scope = scopes[0]
            declared.setdefault(scope, set()).add(op.name)

            status, body = await _call(http, op, all_but[scope])
            _assert_refused(status, body, scope, op.name)
            status, body = await _call(http, op, tenant.api_key)
            assert status not in (401, 403), (op.name, status, body)
            seen[op.name] = status

    # The walk saw the routes this test knows must exist (a service that stopped serving its routes would
    # otherwise pass vacuously).
    expected = {
        CHAT: {"gateway POST /v1/chat/completions", "gateway GET /v1/models"},
        BILLING_READ: {"billing GET /v1/billing/usage", "billing GET /v1/billing/invoices"},
        BILLING_MANAGE: {
            "billing POST /v1/billing/subscription",
            "billing POST /v1/billing/balance/top-ups",
            "billing PUT /v1/billing/alerts",
        },
        ANALYTICS_READ: {"analytics GET /v1/analytics/kpis", "analytics GET /v1/analytics/kpis.csv"},
        REALTIME: {"realtime POST /v1/realtime/sessions"},
    }
    for scope, names in expected.items():
        assert names <= declared.get(scope, set()), (scope, names - declared.get(scope, set()))
    # With the scope, the plausible requests do what they ask (reads answer 200).
    reads = {name: status for name, status in seen.items() if " GET " in name and "{" not in name}
    assert reads and set(reads.values()) == {200}, reads


async def test_a_chat_only_key_gets_403_on_every_billing_write(services, make_tenant, admin_sessions):
    tenant = await make_tenant()
    chat_only = await _key(admin_sessions, tenant, [CHAT])
    async with aiohttp.ClientSession() as http:
        writes = [
            op
            for op in await _operations(http, {"billing": services["billing"]})
            if op.method != "get" and op.path.startswith("/v1/")
        ]
        assert {(op.method, op.path) for op in writes} >= {
            ("post", "/v1/billing/subscription"),
            ("put", "/v1/billing/alerts"),
        }
        before = [await _call(http, op, tenant.api_key) for op in _reads(services["billing"])]
        for op in writes:
            assert op.scopes() == [BILLING_MANAGE], op.name
            status, body = await _call(http, op, chat_only)
            _assert_refused(status, body, BILLING_MANAGE, op.name)
        # Nothing changed: the same plan, balance and alert state as before the attempts.
        after = [await _call(http, op, tenant.api_key) for op in _reads(services["billing"])]
    assert after == before
    assert [status for status, _ in after] == [200, 200]


def _reads(base_url: str) -> list[Operation]:
    return [
        Operation("billing", base_url, "get", path, {}, {})
        for path in ("/v1/billing/subscription", "/v1/billing/balance")
    ]


async def test_the_realtime_socket_refuses_a_key_without_the_realtime_scope(services, make_tenant, admin_sessions):
    tenant = await make_tenant()
    ws_url = services["realtime"].replace("http://", "ws://") + "/v1/realtime/ws"
    without = await _key(admin_sessions, tenant, [s for s in ALL_SCOPES if s != REALTIME])
    for via in ("header", "query"):
        async with open_ws(ws_url, without, via=via) as ws:
            assert await close_code(ws) == 4403
            assert ws.close_reason == "insufficient_scope: This key lacks the 'realtime' scope."
    async with open_ws(ws_url, await _key(admin_sessions, tenant, [REALTIME])) as ws:
        await send(ws, type="ping")
        assert (await recv(ws))["type"] == "pong"


async def test_keys_are_created_with_known_scopes_only_and_default_to_chat(services, make_tenant, admin_headers):
    tenant = await make_tenant()
    keys_url = f"{services['control-plane']}/admin/tenants/{tenant.id}/keys"
    async with aiohttp.ClientSession(headers=admin_headers) as http:
        for scopes in (["*"], ["chat", "billing:write"], [], ["CHAT"]):
            async with http.post(keys_url, json={"name": "k", "scopes": scopes}) as resp:
                body = await resp.json()
                assert resp.status == 422, (scopes, body)
                assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"].startswith("scopes")
        async with http.post(keys_url, json={"name": "default"}) as resp:
            assert resp.status == 201
            assert (await resp.json())["scopes"] == [CHAT]
        wanted = [BILLING_READ, CHAT, BILLING_READ]
        async with http.post(keys_url, json={"name": "reader", "scopes": wanted}) as resp:
            created = await resp.json()
            assert resp.status == 201, created
            assert created["scopes"] == [BILLING_READ, CHAT]
    # The reader key reads billing but cannot change it.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {created['key']}"}) as http:
        async with http.get(f"{services['billing']}/v1/billing/usage") as resp:
            assert resp.status == 200, await resp.text()
        async with http.put(f"{services['billing']}/v1/billing/alerts", json={"url": "http://127.0.0.1:9/x"}) as resp:
            _assert_refused(resp.status, await resp.json(), BILLING_MANAGE, "PUT alerts with a reader key")
