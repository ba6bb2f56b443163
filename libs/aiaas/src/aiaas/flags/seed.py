"""The live flags the platform's services read, as the control plane seeds them (created at its start when missing).

One definition for both sides: the control plane creates them, the readers take their defaults from here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CACHE_FLAGS", "ORCHESTRATOR_FLAGS", "SEED_FLAGS"]

# The gateway response cache's per-tenant settings (gateway/cache); the defaults apply while a flag is absent.
CACHE_FLAGS: tuple[dict[str, Any], ...] = (
    {"key": "cache.enabled", "type": "boolean", "default": False, "description": "response cache on"},
    {"key": "cache.semantic", "type": "boolean", "default": True, "description": "semantic tier on (with the cache)"},
    {
        "key": "cache.threshold_milli",
        "type": "integer",
        "default": 0,
        "min_value": 0,
        "max_value": 1000,
        "description": "semantic cosine threshold x1000; 0 = the embedder's default",
    },
    {"key": "cache.ttl_s", "type": "integer", "default": 86400, "min_value": 1, "max_value": 2_592_000},
    {"key": "cache.max_entries", "type": "integer", "default": 10000, "min_value": 0, "max_value": 1_000_000},
    {"key": "cache.aliases", "type": "string_list", "default": [], "description": "[] = every alias"},
    {
        "key": "cache.max_temperature_centi",
        "type": "integer",
        "default": 100,
        "min_value": 0,
        "max_value": 200,
        "description": "requests above this temperature x100 bypass the cache (none given = 1.0)",
    },
    {
        "key": "cache.version",
        "type": "integer",
        "default": 0,
        "min_value": 0,
        "description": "the tenant's cache config version: bump it and every entry misses",
    },
)

# The orchestrator's per-tenant settings; a run snapshots them at its start (orch_runs.flags).
ORCHESTRATOR_FLAGS: tuple[dict[str, Any], ...] = (
    {
        "key": "hitl.order.refund_threshold",
        "type": "integer",
        "default": 100_000,
        "min_value": 0,
        "description": "Order runs over this amount (minor units) wait for a human's approval (interrupt)",
    },
    {
        "key": "orch.faq.durability_exit",
        "type": "boolean",
        "default": False,
        "description": "FAQ runs checkpoint only when they stop (durability exit) instead of after each step",
    },
)

SEED_FLAGS: tuple[dict[str, Any], ...] = (
    {"key": "streaming_enabled", "type": "boolean", "default": True, "description": "stream=true allowed"},
    {"key": "max_tokens_cap", "type": "integer", "default": 0, "min_value": 0, "description": "0 = no cap"},
    {"key": "model_allowlist", "type": "string_list", "default": [], "description": "[] = every model allowed"},
    {"key": "realtime_enabled", "type": "boolean", "default": True, "description": "realtime chat allowed"},
    *CACHE_FLAGS,
    *ORCHESTRATOR_FLAGS,
)
