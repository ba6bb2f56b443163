"""Flag values: types, validation, and evaluation (tenant override > plan override > default).

A percentage flag evaluates to a bool by a stable bucket of sha256(f"{key}:{tenant_id or user_id}") in
0..9999 (< pct * 100 means on); a variant flag with weights and no override picks its variant by the same
bucket. Pure functions and data, shared by the control plane (which validates and publishes) and by
`FlagClient` (which evaluates).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

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
]

FLAGS_BUCKET = "flags"
# Key = tenant id (lower-case UUID text), value = the tenant's plan code; written by billing.
TENANT_PLANS_BUCKET = "tenant_plans"
FLAG_KEY_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
FlagType = Literal["boolean", "percentage", "variant", "integer", "string_list"]
FLAG_TYPES: tuple[str, ...] = ("boolean", "percentage", "variant", "integer", "string_list")
FlagValue: TypeAlias = bool | int | str | list[str]
_BUCKETS = 10_000
_MAX_LIST = 1000
_MAX_TEXT = 200
_INT64 = 2**63 - 1


class FlagValueError(ValueError):
    """A value that does not fit its flag's type (the control plane answers 400 with `.message`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Variant:
    value: str
    weight: int | None = None


def validate_value(
    flag_type: str,
    value: object,
    *,
    variants: tuple[Variant, ...] = (),
    min_value: int | None = None,
    max_value: int | None = None,
) -> FlagValue:
    """`value` checked against the flag's type (and variants or bounds); raises `FlagValueError`."""
    if flag_type == "boolean":
        if not isinstance(value, bool):
            raise FlagValueError("a boolean flag takes true or false")
        return value
    if flag_type == "percentage":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise FlagValueError("a percentage flag takes an integer from 0 to 100")
        return value
    if flag_type == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value <= _INT64:
            raise FlagValueError("an integer flag takes a 64-bit integer")
        if min_value is not None and value < min_value:
            raise FlagValueError(f"this flag's value must be >= {min_value}")
        if max_value is not None and value > max_value:
            raise FlagValueError(f"this flag's value must be <= {max_value}")
        return value
    if flag_type == "variant":
        names = [v.value for v in variants]
        if not isinstance(value, str) or value not in names:
            raise FlagValueError(f"a variant flag takes one of its variants: {', '.join(names)[:_MAX_TEXT]}")
        return value
    if flag_type == "string_list":
        if (
            not isinstance(value, list)
            or len(value) > _MAX_LIST
            or not all(isinstance(item, str) and 0 < len(item) <= _MAX_TEXT for item in value)
        ):
            raise FlagValueError(
                f"a string_list flag takes a list of at most {_MAX_LIST} non-empty strings of <= {_MAX_TEXT} chars"
            )
        return list(value)
    raise FlagValueError(f"unknown flag type; one of {', '.join(FLAG_TYPES)}")


@dataclass(frozen=True)
class Flag:
    """One flag with all its overrides, as published to the KV bucket."""

    key: str
    type: str
    default: FlagValue
    version: int
    variants: tuple[Variant, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    description: str = ""
    plans: Mapping[str, FlagValue] = field(default_factory=dict)
    tenants: Mapping[str, FlagValue] = field(default_factory=dict)
    updated_at: str | None = None

    @property
    def weighted(self) -> bool:
        return any(v.weight for v in self.variants)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "type": self.type,
            "default": self.default,
            "version": self.version,
            "variants": [{"value": v.value, "weight": v.weight} for v in self.variants] or None,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "description": self.description,
            "plans": dict(self.plans),
            "tenants": dict(self.tenants),
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Flag:
        """Parse and validate a published document; raises `FlagValueError` (or KeyError/TypeError) if bad."""
        key, flag_type = str(data["key"]), str(data["type"])
        if not FLAG_KEY_RE.match(key):
            raise FlagValueError("bad flag key")
        variants = tuple(Variant(str(v["value"]), _opt_int(v.get("weight"))) for v in data.get("variants") or ())
        low, high = _opt_int(data.get("min_value")), _opt_int(data.get("max_value"))

        def check(value: object) -> FlagValue:
            return validate_value(flag_type, value, variants=variants, min_value=low, max_value=high)

        return cls(
            key=key,
            type=flag_type,
            default=check(data["default"]),
            version=int(data["version"]),
            variants=variants,
            min_value=low,
            max_value=high,
            description=str(data.get("description") or ""),
            plans={str(p): check(v) for p, v in (data.get("plans") or {}).items()},
            tenants={str(t).lower(): check(v) for t, v in (data.get("tenants") or {}).items()},
            updated_at=data.get("updated_at"),
        )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def bucket_of(flag_key: str, unit: str) -> int:
    """Stable bucket 0..9999 of `unit` (a tenant or user id) for this flag."""
    digest = hashlib.sha256(f"{flag_key}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def _unit(tenant_id: uuid.UUID | str | None, user_id: str | None) -> str | None:
    if tenant_id is not None:
        return str(tenant_id).lower()
    return user_id


def evaluate(
    flag: Flag, tenant_id: uuid.UUID | str | None, plan: str | None = None, user_id: str | None = None
) -> FlagValue:
    """The flag's value for this caller: tenant override > plan override > default (percentage → bool)."""
    tenant_key = str(tenant_id).lower() if tenant_id is not None else None
    value: FlagValue | None = flag.tenants.get(tenant_key) if tenant_key is not None else None
    overridden = value is not None
    if value is None and plan is not None:
        value = flag.plans.get(plan)
        overridden = value is not None
    if value is None:
        value = flag.default
    if flag.type == "percentage":
        unit = _unit(tenant_id, user_id)
        pct = value if isinstance(value, int) else 0
        if unit is None:
            return pct >= 100
        return bucket_of(flag.key, unit) < pct * (_BUCKETS // 100)
    if flag.type == "variant" and not overridden and flag.weighted:
        unit = _unit(tenant_id, user_id)
        if unit is not None:
            return _weighted_pick(flag, bucket_of(flag.key, unit))
    return value


def _weighted_pick(flag: Flag, bucket: int) -> str:
    total = sum(v.weight or 0 for v in flag.variants)
    point = bucket * total // _BUCKETS
    for variant in flag.variants:
        point -= variant.weight or 0
        if point < 0:
            return variant.value
    return flag.variants[-1].value
