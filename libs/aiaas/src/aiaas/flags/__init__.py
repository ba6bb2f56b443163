"""Feature flags: typed values and their evaluation (`model`), and `FlagClient` (`client`), the live cache.

A flag is published by the control plane to the JetStream KV bucket `flags` as one JSON document per key:
its type, default, variants, bounds, plan and tenant overrides, and a `version` that only grows.
Precedence: tenant override > plan override > default.
"""

from aiaas.flags.client import FlagClient
from aiaas.flags.model import (
    FLAG_KEY_RE,
    FLAG_TYPES,
    FLAGS_BUCKET,
    Flag,
    FlagType,
    FlagValue,
    FlagValueError,
    Variant,
    bucket_of,
    evaluate,
    validate_value,
)

__all__ = [
    "FLAG_KEY_RE",
    "FLAG_TYPES",
    "FLAGS_BUCKET",
    "FlagType",
    "FlagValue",
    "FlagValueError",
    "Variant",
    "Flag",
    "validate_value",
    "bucket_of",
    "evaluate",
    "FlagClient",
]
