"""Which database roles each platform process holds: the one table for `make dev`, compose, `.env.example`,
the README and the role test (tests/test_roles.py checks them all against it).

A process is given the DSN variables of its roles and no other; tenant-facing processes (reachable with a
tenant's API key) hold only `DATABASE_URL` (app_runtime, no BYPASSRLS; API keys are resolved by the SECURITY
DEFINER function `auth_lookup_api_key`, owned by the NOLOGIN `key_resolver`), never the cross-tenant role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DSN_ROLES", "PROCESS_ROLES", "ProcessRoles", "process_env"]

# DSN variable -> the Postgres role it logs in as.
DSN_ROLES = {
    "DATABASE_URL": "app_runtime",
    "ADMIN_DATABASE_URL": "platform_admin",
    "MIGRATION_DATABASE_URL": "aiaas_owner",
    "PG_SUPERUSER_URL": "postgres",
}
_RUNTIME, _ADMIN = ("DATABASE_URL",), ("ADMIN_DATABASE_URL",)


@dataclass(frozen=True)
class ProcessRoles:
    """The DSN variables a process is started with, whether tenants can reach it, and why it needs them."""

    dsns: tuple[str, ...]
    tenant_facing: bool
    why: str

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(DSN_ROLES[dsn] for dsn in self.dsns)


# Keys are the process names of `make dev` (deploy/local); compose services are the same with `-` for `_`.
PROCESS_ROLES: dict[str, ProcessRoles] = {
    "gateway": ProcessRoles(_RUNTIME, True, "chat under each request's tenant"),
    "billing": ProcessRoles(_RUNTIME, True, "a tenant's own plan, usage, invoices and balance"),
    "analytics": ProcessRoles(_RUNTIME, True, "a tenant's own KPIs"),
    "realtime": ProcessRoles(_RUNTIME, True, "a tenant's own conversations"),
    "usage_writer": ProcessRoles(_RUNTIME, False, "one tenant transaction per event's tenant"),
    "analytics_consumer": ProcessRoles(_RUNTIME, False, "one tenant transaction per event's tenant"),
    "billing_stripe_sync": ProcessRoles(_RUNTIME, False, "one tenant transaction per event's tenant"),
    "billing_meter": ProcessRoles(
        _RUNTIME + _ADMIN, False, "meters as app_runtime; quota reconcile, alert delivery, outbox relay cross tenants"
    ),
    "outbox_relay": ProcessRoles(_ADMIN, False, "publishes every tenant's outbox rows"),
    "billing_admin": ProcessRoles(
        _RUNTIME + _ADMIN, False, "plans, subscriptions, period close, Stripe webhooks (admin listener)"
    ),
    "analytics_admin": ProcessRoles(_ADMIN, False, "KPIs across tenants (admin listener)"),
    "control_plane": ProcessRoles(_ADMIN, False, "tenants and keys, flags, registries (admin listener)"),
    "router": ProcessRoles(_RUNTIME, True, "a tenant's own routing policy, decisions and bandit state"),
    "router_consumer": ProcessRoles(_RUNTIME, False, "one tenant transaction per event's tenant"),
    "router_admin": ProcessRoles(_ADMIN, False, "router versions and the canary monitor across tenants (admin)"),
    "ingestion": ProcessRoles(_RUNTIME, True, "a tenant's own knowledge base: documents, chunks, search"),
    "ingestion_consumer": ProcessRoles(_RUNTIME, False, "one tenant transaction per message's tenant"),
    "orchestrator": ProcessRoles(_RUNTIME, True, "a tenant's own workflow runs, their steps and tool calls"),
    "orchestrator_worker": ProcessRoles(
        _RUNTIME + _ADMIN, False, "runs as app_runtime per tenant; the expiry sweep and retention cross tenants"
    ),
    "provider_sim": ProcessRoles((), False, "no database"),
    "stripe_sim": ProcessRoles((), False, "no database"),
    "toolbox": ProcessRoles((), False, "no database"),
    "migrate": ProcessRoles(
        tuple(DSN_ROLES), False, "creates the roles (with their passwords) and runs migrations as the owner"
    ),
}


def process_env(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the DSN variables process `name` must not hold (KeyError for an undeclared process)."""
    keep = set(PROCESS_ROLES[name].dsns)
    return {key: value for key, value in env.items() if key not in DSN_ROLES or key in keep}
