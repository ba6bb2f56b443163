"""The flag admin API: CRUD, typed validation, auth, and one audit row per change."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import pytest

from .factories import assert_error, call, flag_key, new_flag


async def test_admin_key_is_required(http, cp_url) -> None:
    status, body = await call(http, "GET", f"{cp_url}/admin/flags", headers={})
    assert_error(status, body, 401, "invalid_admin_key")
    status, body = await call(http, "GET", f"{cp_url}/admin/flags", headers={"Authorization": "Bearer wrong"})
    assert_error(status, body, 401, "invalid_admin_key")


async def test_a_revoked_admin_key_is_refused(http, cp_url, make_admin_key, make_tenant) -> None:
    ops = await make_admin_key()
    status, _ = await call(http, "GET", f"{cp_url}/admin/flags", headers=ops.auth)
    assert status == 200
    tenant = await make_tenant()  # a tenant's API key is never an admin key
    status, body = await call(http, "GET", f"{cp_url}/admin/flags", headers=tenant.auth)
    assert_error(status, body, 401, "invalid_admin_key")

    revoke = subprocess.run(
        [sys.executable, "-m", "data_plane", "admin-keys", "revoke", ops.name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoke.returncode == 0 and f"'{ops.name}' revoked" in revoke.stdout, revoke.stderr
    # The control plane caches a key for ADMIN_KEY_CACHE_TTL_S (1 s in these tests).
    deadline = time.monotonic() + 10
    while (await call(http, "GET", f"{cp_url}/admin/flags", headers=ops.auth))[0] == 200:
        assert time.monotonic() < deadline, "a revoked admin key still works"
        await asyncio.sleep(0.2)
    body = {"key": flag_key(), "type": "boolean", "default": True, "reason": "after revoke"}
    status, resp = await call(http, "POST", f"{cp_url}/admin/flags", body, ops.auth)
    assert_error(status, resp, 401, "invalid_admin_key")
    status, _ = await call(http, "GET", f"{cp_url}/admin/flags/{body['key']}")
    assert status == 404


async def test_seed_flags_exist(http, cp_url) -> None:
    status, body = await call(http, "GET", f"{cp_url}/admin/flags")
    assert status == 200
    flags = {f["key"]: f for f in body["data"]}
    assert flags["streaming_enabled"]["type"] == "boolean"
    assert flags["max_tokens_cap"]["type"] == "integer"
    assert flags["model_allowlist"]["type"] == "string_list"
    assert flags["realtime_enabled"]["type"] == "boolean"
    # The gateway cache's settings are seeded too, with the defaults the gateway applies while they are absent.
    assert flags["cache.enabled"]["type"] == "boolean" and flags["cache.enabled"]["default"] is False
    assert (flags["cache.threshold_milli"]["min_value"], flags["cache.threshold_milli"]["max_value"]) == (0, 1000)


async def test_crud_round_trip(http, cp_url, make_tenant) -> None:
    tenant = await make_tenant()
    flag = await new_flag(http, cp_url, "integer", 10, min_value=0, max_value=100, description="cap")
    key, v1 = flag["key"], flag["version"]
    assert (flag["default"], flag["min_value"], flag["max_value"], flag["published"]) == (10, 0, 100, True)

    status, body = await call(http, "PATCH", f"{cp_url}/admin/flags/{key}", {"default": 20, "reason": "raise"})
    assert status == 200 and body["default"] == 20 and body["version"] > v1
    status, body = await call(
        http, "PUT", f"{cp_url}/admin/flags/{key}/plans/pro", {"value": 50, "reason": "pro gets more"}
    )
    assert status == 200 and body["plans"] == {"pro": 50}
    status, body = await call(
        http, "PUT", f"{cp_url}/admin/flags/{key}/tenants/{tenant.id}", {"value": 5, "reason": "abuse"}
    )
    assert status == 200 and body["tenants"] == {str(tenant.id): 5}
    status, got = await call(http, "GET", f"{cp_url}/admin/flags/{key}")
    assert status == 200
    assert (got["default"], got["plans"], got["tenants"]) == (20, {"pro": 50}, {str(tenant.id): 5})

    status, body = await call(http, "DELETE", f"{cp_url}/admin/flags/{key}/tenants/{tenant.id}", {"reason": "resolved"})
    assert status == 200 and body["tenants"] == {}
    status, body = await call(http, "DELETE", f"{cp_url}/admin/flags/{key}/plans/pro", {"reason": "done"})
    assert status == 200 and body["plans"] == {}
    status, body = await call(http, "DELETE", f"{cp_url}/admin/flags/{key}", {"reason": "retired"})
    assert status == 200 and body["deleted"] is True
    status, body = await call(http, "GET", f"{cp_url}/admin/flags/{key}")
    assert_error(status, body, 404, "flag_not_found")


async def test_variant_and_list_flags(http, cp_url) -> None:
    flag = await new_flag(http, cp_url, "variant", "a", variants=[{"value": "a", "weight": 90}, "b"])
    assert flag["variants"] == [{"value": "a", "weight": 90}, {"value": "b", "weight": None}]
    status, body = await call(
        http, "PATCH", f"{cp_url}/admin/flags/{flag['key']}", {"default": "b", "reason": "switch"}
    )
    assert status == 200 and body["default"] == "b"
    status, body = await call(
        http, "PATCH", f"{cp_url}/admin/flags/{flag['key']}", {"variants": ["a", "b", "c"], "reason": "add c"}
    )
    assert status == 200 and [v["value"] for v in body["variants"]] == ["a", "b", "c"]
    _, audit = await call(http, "GET", f"{cp_url}/admin/flags/audit?flag={flag['key']}&limit=1")
    row = audit["data"][0]
    assert row["old_value"]["variants"] == [{"value": "a", "weight": 90}, {"value": "b", "weight": None}]
    assert row["new_value"]["variants"][-1] == {"value": "c", "weight": None}
    assert row["new_value"]["default"] == "b" and row["reason"] == "add c"
    listed = await new_flag(http, cp_url, "string_list", ["gpt-4o-mini"])
    assert listed["default"] == ["gpt-4o-mini"]


@pytest.mark.parametrize(
    ("type_", "default", "extra", "code"),
    [
        ("boolean", "yes", {}, "invalid_value"),
        ("boolean", 1, {}, "invalid_value"),
        ("percentage", 101, {}, "invalid_value"),
        ("percentage", -1, {}, "invalid_value"),
        ("integer", 2.5, {}, "invalid_value"),
        ("integer", 5, {"min_value": 10}, "invalid_value"),
        ("integer", 5, {"min_value": 10, "max_value": 1}, "invalid_bounds"),
        ("variant", "c", {"variants": ["a", "b"]}, "invalid_value"),
        ("variant", "a", {}, "invalid_variants"),
        ("variant", "a", {"variants": ["a", "a"]}, "invalid_variants"),
        ("variant", "a", {"variants": [{"value": "a", "weight": 0}]}, "invalid_variants"),
        ("boolean", True, {"variants": ["a"]}, "invalid_variants"),
        ("boolean", True, {"min_value": 1}, "invalid_bounds"),
        ("string_list", "gpt-4o", {}, "invalid_value"),
        ("string_list", [1, 2], {}, "invalid_value"),
    ],
)
async def test_create_rejects_values_of_the_wrong_type(http, cp_url, type_, default, extra, code) -> None:
    body = {"key": flag_key(), "type": type_, "default": default, "reason": "test", **extra}
    status, resp = await call(http, "POST", f"{cp_url}/admin/flags", body)
    assert_error(status, resp, 400, code)
    status, resp = await call(http, "GET", f"{cp_url}/admin/flags/{body['key']}")
    assert status == 404  # nothing was written


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"key": "Bad-Key", "type": "boolean", "default": True, "reason": "r"}, 422),
        ({"key": "ok_key", "type": "float", "default": 1.0, "reason": "r"}, 422),
        ({"key": "ok_key", "type": "boolean", "default": True}, 422),  # reason is required
        ({"key": "ok_key", "type": "boolean", "default": True, "reason": ""}, 422),
        ({"key": "ok_key", "type": "boolean", "default": True, "reason": "r", "extra": 1}, 422),
        ({"key": "audit", "type": "boolean", "default": True, "reason": "r"}, 400),
    ],
)
async def test_create_rejects_bad_bodies(http, cp_url, body, status) -> None:
    got, resp = await call(http, "POST", f"{cp_url}/admin/flags", body)
    assert_error(got, resp, status)


async def test_override_validation(http, cp_url, make_tenant) -> None:
    tenant = await make_tenant()
    pct = await new_flag(http, cp_url, "percentage", 10)
    base = f"{cp_url}/admin/flags/{pct['key']}"
    cases = [
        ("PUT", f"{base}/tenants/{tenant.id}", {"value": 101, "reason": "r"}, 400, "invalid_value"),
        ("PUT", f"{base}/tenants/{tenant.id}", {"value": "50", "reason": "r"}, 400, "invalid_value"),
        ("PUT", f"{base}/tenants/{uuid.uuid4()}", {"value": 50, "reason": "r"}, 404, "tenant_not_found"),
        ("PUT", f"{base}/tenants/not-a-uuid", {"value": 50, "reason": "r"}, 422, None),
        ("PUT", f"{base}/plans/Bad Plan", {"value": 50, "reason": "r"}, 422, None),
        ("PUT", f"{cp_url}/admin/flags/{flag_key()}/plans/pro", {"value": 50, "reason": "r"}, 404, "flag_not_found"),
        ("DELETE", f"{base}/plans/pro", {"reason": "r"}, 404, "override_not_found"),
        ("DELETE", f"{base}/plans/pro", None, 422, None),
        ("PATCH", base, {"reason": "r"}, 400, "empty_update"),
        ("PATCH", base, {"default": 150, "reason": "r"}, 400, "invalid_value"),
        ("PATCH", f"{cp_url}/admin/flags/{flag_key()}", {"default": 1, "reason": "r"}, 404, "flag_not_found"),
    ]
    for method, url, body, status, code in cases:
        got, resp = await call(http, method, url, body)
        assert_error(got, resp, status, code)
    status, body = await call(http, "POST", f"{cp_url}/admin/flags", {**pct, "reason": "again"})
    assert_error(status, body, 422)  # extra fields (version, plans...) are refused
    dup = {"key": pct["key"], "type": "percentage", "default": 1, "reason": "again"}
    status, body = await call(http, "POST", f"{cp_url}/admin/flags", dup)
    assert_error(status, body, 409, "flag_exists")


async def test_narrowing_a_definition_must_keep_overrides_valid(http, cp_url) -> None:
    flag = await new_flag(http, cp_url, "variant", "a", variants=["a", "b"])
    url = f"{cp_url}/admin/flags/{flag['key']}"
    assert (await call(http, "PUT", f"{url}/plans/pro", {"value": "b", "reason": "r"}))[0] == 200
    status, body = await call(http, "PATCH", url, {"variants": ["a"], "reason": "drop b"})
    assert_error(status, body, 400, "invalid_value")
    assert body["error"]["param"] == "plans.pro"


async def test_every_change_writes_one_audit_row(http, cp_url, make_tenant, admin_key, make_admin_key) -> None:
    tenant = await make_tenant()
    flag = await new_flag(http, cp_url, "boolean", True)
    key = flag["key"]
    alice = await make_admin_key(f"alice-{uuid.uuid4().hex[:8]}@example.com")
    # The actor is the calling key's name; an X-Actor header claiming someone else is ignored.
    actor = {**alice.auth, "X-Actor": "mallory"}
    await call(http, "PUT", f"{cp_url}/admin/flags/{key}/tenants/{tenant.id}", {"value": False, "reason": "r1"}, actor)
    await call(http, "PUT", f"{cp_url}/admin/flags/{key}/tenants/{tenant.id}", {"value": True, "reason": "r2"}, actor)
    await call(http, "PATCH", f"{cp_url}/admin/flags/{key}", {"default": False, "reason": "r3"})
    await call(http, "DELETE", f"{cp_url}/admin/flags/{key}/tenants/{tenant.id}", {"reason": "r4"}, actor)

    status, body = await call(http, "GET", f"{cp_url}/admin/flags/audit?flag={key}")
    assert status == 200
    rows = [(r["action"], r["scope"], r["old_value"], r["new_value"], r["actor"], r["reason"]) for r in body["data"]]
    scope = f"tenant:{tenant.id}"
    assert rows == [
        ("unset", scope, True, None, alice.name, "r4"),
        ("update", "default", True, False, admin_key.name, "r3"),
        ("set", scope, False, True, alice.name, "r2"),
        ("set", scope, None, False, alice.name, "r1"),
        ("create", "default", None, True, admin_key.name, "test"),
    ]
    assert all(r["at"] for r in body["data"])
    status, by_tenant = await call(http, "GET", f"{cp_url}/admin/flags/audit?tenant_id={tenant.id}")
    assert [r["reason"] for r in by_tenant["data"]] == ["r4", "r2", "r1"]
    status, page = await call(http, "GET", f"{cp_url}/admin/flags/audit?flag={key}&limit=2")
    assert [r["reason"] for r in page["data"]] == ["r4", "r3"]
    status, older = await call(
        http, "GET", f"{cp_url}/admin/flags/audit?flag={key}&limit=2&before_id={page['data'][-1]['id']}"
    )
    assert [r["reason"] for r in older["data"]] == ["r2", "r1"]
    status, body = await call(http, "GET", f"{cp_url}/admin/flags/audit?limit=0")
    assert_error(status, body, 422)


async def test_health_and_metrics(http, cp_url, cp_metrics_port) -> None:
    async with http.get(f"{cp_url}/health/ready") as resp:
        assert resp.status == 200
        assert (await resp.json())["checks"] == {"postgres": "ok", "nats": "ok"}
    # Metrics are on their own listener (CONTROL_PLANE_METRICS_PORT), not on the API's port.
    async with http.get(f"{cp_url}/metrics") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["type"] == "not_found_error"
    async with http.get(f"http://127.0.0.1:{cp_metrics_port}/metrics") as resp:
        text = await resp.text()
    assert "flags_published_total" in text and "flags_reconciled_total" in text
