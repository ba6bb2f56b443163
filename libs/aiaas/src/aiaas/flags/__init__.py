"""Feature flags: typed values and their evaluation (`model`), and `FlagClient` (`client`), the live cache.

A flag is published by the control plane to the JetStream KV bucket `flags` as one JSON document per key:
its type, default, variants, bounds, plan and tenant overrides, and a `version` that only grows.
Precedence: tenant override > plan override > default.

Plans: a tenant's plan is billing's, published to the KV bucket `tenant_plans` (key = tenant id, value =
plan code; `plans.TenantPlanPublisher` writes a tenant's entry only when its plan differs from the
bucket's). `FlagClient` mirrors that bucket too, so `flags.is_enabled(key, tenant_id, default=...)`
applies the tenant's plan override with no `plan=` at the call site; an explicit `plan=` still wins. A
tenant without an entry, or no bucket yet (billing never wrote), means no plan: tenant override or default.
A plan change reaches the clients within milliseconds of billing's write (the API writes on the change;
billing's timer sweep repairs a write missed while NATS was down).
"""

from aiaas.flags.client import FlagClient
from aiaas.flags.kv import KvMirror, ensure_bucket
from aiaas.flags.model import (
    FLAG_KEY_RE,
    FLAG_TYPES,
    FLAGS_BUCKET,
    TENANT_PLANS_BUCKET,
    Flag,
    FlagType,
    FlagValue,
    FlagValueError,
    Variant,
    bucket_of,
    evaluate,
    validate_value,
)
from aiaas.flags.plans import TenantPlanPublisher, tenant_key

__all__ = [
    "FLAG_KEY_RE",
    "FLAG_TYPES",
    "FLAGS_BUCKET",
    "TENANT_PLANS_BUCKET",
    "FlagType",
    "FlagValue",
    "FlagValueError",
    "Variant",
    "Flag",
    "validate_value",
    "bucket_of",
    "evaluate",
    "FlagClient",
    "KvMirror",
    "ensure_bucket",
    "TenantPlanPublisher",
    "tenant_key",
]
