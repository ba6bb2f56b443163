"""The tenant flags a run snapshots at its creation (`orch_runs.flags`), read from the live flag cache.

The orchestrator's flags and their defaults are declared once, with the platform's others, in
`aiaas.flags.seed.ORCHESTRATOR_FLAGS` (the control plane creates them); a flag absent from the cache reads as its
default, so a run always snapshots every one of them. The graphs read the snapshot, never the live flags: a flag
changed mid-run does not change that run.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiaas.flags import FlagClient
from aiaas.flags.seed import ORCHESTRATOR_FLAGS

__all__ = ["REFUND_THRESHOLD", "snapshot"]

# Order runs over this amount (minor units) interrupt for a human's approval.
REFUND_THRESHOLD = "hitl.order.refund_threshold"


def snapshot(flags: FlagClient | None, tenant_id: uuid.UUID) -> dict[str, Any]:
    """Every orchestrator flag as it evaluates for the tenant now (defaults when there is no flag client)."""
    values: dict[str, Any] = {}
    for spec in ORCHESTRATOR_FLAGS:
        key, default = spec["key"], spec["default"]
        if flags is None:
            values[key] = default
        elif spec["type"] == "integer":
            values[key] = flags.get_int(key, tenant_id, default=default)
        elif spec["type"] in ("boolean", "percentage"):
            values[key] = flags.is_enabled(key, tenant_id, default=default)
        elif spec["type"] == "string_list":
            values[key] = flags.get_list(key, tenant_id, default=default)
        else:
            values[key] = flags.get_variant(key, tenant_id, default=default)
    return values
