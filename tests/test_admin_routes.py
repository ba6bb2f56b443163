"""Every `/admin` route of every service authenticates with `aiaas.auth.require_admin` (named admin keys), and
no other route does; their OpenAPI says so (`AdminKey` bearer scheme). Checked on the apps as built, without
starting them (the control-plane and data-plane tests exercise the dependency against real processes).
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from fastapi import FastAPI

# Every HTTP listener of the platform: (name, module with create_app).
LISTENERS = [
    ("gateway", "gateway.app"),
    ("billing", "billing.app"),
    ("billing-admin", "billing.admin"),
    ("analytics", "analytics.app"),
    ("analytics-admin", "analytics.admin"),
    ("control-plane", "control_plane.app"),
    ("realtime", "realtime.app"),
    ("router", "router.app"),
    ("router-admin", "router.admin"),
    ("ingestion", "ingestion.app"),
    ("orchestrator", "orchestrator.app"),
]
# The listeners whose whole purpose is platform administration: they must have admin routes.
ADMIN_LISTENERS = {"billing-admin", "analytics-admin", "control-plane", "router-admin"}


def _fastapi(app: Any) -> FastAPI:
    """The FastAPI app inside a service's ASGI wrapper (realtime wraps its app)."""
    if isinstance(app, FastAPI):
        return app
    inner = next((value for value in vars(app).values() if isinstance(value, FastAPI)), None)
    assert inner is not None, f"no FastAPI app inside {app!r}"
    return inner


@pytest.fixture(scope="module")
def apps(infra_urls) -> dict[str, FastAPI]:
    with pytest.MonkeyPatch.context() as env:
        # The admin listeners' settings require their platform_admin DSN; nothing connects here.
        env.setenv("ADMIN_DATABASE_URL", infra_urls.admin_database_url)
        return {name: _fastapi(importlib.import_module(module).create_app()) for name, module in LISTENERS}


@pytest.mark.parametrize("name", [name for name, _ in LISTENERS])
def test_admin_routes_and_only_they_require_a_named_admin_key(apps, name) -> None:
    # The `AdminKey` scheme comes from require_admin's own bearer dependency (aiaas.auth) and from nothing
    # else, so an operation that lists it depends on require_admin.
    spec = apps[name].openapi()
    admin_ops = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path.startswith("/admin"):
                admin_ops += 1
                assert op.get("security") == [{"AdminKey": []}], f"{name} {method.upper()} {path}"
            else:
                # Elsewhere an admin key appears only as a platform service's credential (a named admin key acting
                # for the tenant in x-aiaas-tenant-id: aiaas.service_callers), offered beside the tenant key.
                security = op.get("security") or []
                service = [requirement for requirement in security if "AdminKey" in requirement]
                assert all(set(r) == {"AdminKey", "TenantId"} for r in service), f"{name} {method.upper()} {path}"
                assert not service or any("HTTPBearer" in r for r in security), f"{name} {method.upper()} {path}"
    if name in ADMIN_LISTENERS:
        assert admin_ops > 0, f"{name} serves no /admin route"
    if admin_ops:
        scheme = spec["components"]["securitySchemes"]["AdminKey"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
