"""Feature flags: typed values, evaluation, and `FlagClient`, the live cache every service reads.

A flag is published by the control plane to the JetStream KV bucket `flags` as one JSON
document per key (`Flag.to_json()`): its type, default, variants, bounds, plan and tenant
overrides, and a `version` that only grows. `FlagClient` loads the bucket, then watches it and
swaps flags in its in-memory dict as they change; reads are dict lookups, never I/O, never raise.

Precedence: tenant override > plan override > default. A percentage flag evaluates to a bool by
a stable bucket of sha256(f"{key}:{tenant_id or user_id}") in 0..9999 (< pct * 100 means on); a
variant flag with weights and no override picks its variant by the same bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from prometheus_client import Counter, Gauge

__all__ = [
    "FLAG_KEY_RE",
    "FLAG_TYPES",
    "FlagType",
    "FlagValue",
    "FlagValueError",
    "Variant",
    "Flag",
    "validate_value",
    "bucket_of",
    "evaluate",
    "FlagClient",
    "FLAGS_BUCKET",
]

_log = logging.getLogger(__name__)

FLAGS_BUCKET = "flags"
FLAG_KEY_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
FlagType = Literal["boolean", "percentage", "variant", "integer", "string_list"]
FLAG_TYPES: tuple[str, ...] = ("boolean", "percentage", "variant", "integer", "string_list")
FlagValue: TypeAlias = bool | int | str | list[str]
_BUCKETS = 10_000
_MAX_LIST = 1000
_MAX_TEXT = 200
_INT64 = 2**63 - 1

FLAG_UPDATES = Counter("flag_updates_total", "Flag changes applied to the local cache", ["bucket", "kind"])
FLAG_CACHE_AGE = Gauge(
    "flag_cache_age_seconds", "Seconds the flag cache has been without a live watch (0 = live)", ["bucket"]
)
FLAG_CACHE_SIZE = Gauge("flag_cache_flags", "Flags held in the local cache", ["bucket"])


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
    value: Any,
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

        def check(value: Any) -> FlagValue:
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


class FlagClient:
    """A live, in-process copy of the flags bucket.

    `await start()` connects and loads the snapshot (waiting at most `start_timeout_s`; it does
    not fail when NATS is down, it keeps retrying in the background). Reads never do I/O and
    never raise: an unknown flag, or a flag of another type, gives the caller's `default`.
    After a disconnect the client keeps serving what it had and reloads the whole bucket when
    the connection returns (so deletions made meanwhile are seen too).
    """

    def __init__(
        self,
        nats_url: str,
        *,
        bucket: str = FLAGS_BUCKET,
        name: str = "flag-client",
        retry_s: float = 0.5,
    ) -> None:
        self._url = nats_url
        self._bucket = bucket
        self._name = name
        self._retry_s = retry_s
        self._flags: dict[str, Flag] = {}
        self._nc: NatsClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._resync = asyncio.Event()
        self._loaded = asyncio.Event()
        self._stale_since: float | None = time.monotonic()
        FLAG_CACHE_AGE.labels(bucket).set_function(self.cache_age_s)

    # ---- reads: the hot path -------------------------------------------------------------
    def get(self, key: str) -> Flag | None:
        return self._flags.get(key)

    def keys(self) -> list[str]:
        return sorted(self._flags)

    def _value(
        self, key: str, tenant_id: uuid.UUID | str | None, plan: str | None, user_id: str | None, types: tuple[str, ...]
    ) -> FlagValue | None:
        flag = self._flags.get(key)
        if flag is None or flag.type not in types:
            return None
        return evaluate(flag, tenant_id, plan, user_id)

    def is_enabled(
        self,
        key: str,
        tenant_id: uuid.UUID | str | None,
        *,
        default: bool,
        plan: str | None = None,
        user_id: str | None = None,
    ) -> bool:
        """A boolean or percentage flag."""
        value = self._value(key, tenant_id, plan, user_id, ("boolean", "percentage"))
        return value if isinstance(value, bool) else default

    def get_int(self, key: str, tenant_id: uuid.UUID | str | None, *, default: int, plan: str | None = None) -> int:
        value = self._value(key, tenant_id, plan, None, ("integer",))
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def get_list(
        self, key: str, tenant_id: uuid.UUID | str | None, *, default: list[str], plan: str | None = None
    ) -> list[str]:
        value = self._value(key, tenant_id, plan, None, ("string_list",))
        return value if isinstance(value, list) else default

    def get_variant(
        self,
        key: str,
        tenant_id: uuid.UUID | str | None,
        *,
        default: str,
        plan: str | None = None,
        user_id: str | None = None,
    ) -> str:
        value = self._value(key, tenant_id, plan, user_id, ("variant",))
        return value if isinstance(value, str) else default

    def cache_age_s(self) -> float:
        """0 while the watch is live; else seconds since it was last live (or since start)."""
        stale = self._stale_since
        return 0.0 if stale is None else time.monotonic() - stale

    @property
    def live(self) -> bool:
        return self._stale_since is None

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self, start_timeout_s: float = 2.0) -> FlagClient:
        self._task = asyncio.create_task(self._run(), name=f"{self._name}-watch")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._loaded.wait(), start_timeout_s)
        return self

    async def close(self) -> None:
        with contextlib.suppress(KeyError):
            FLAG_CACHE_AGE.remove(self._bucket)  # the gauge would otherwise keep this client alive
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.close()

    async def __aenter__(self) -> FlagClient:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connect(self) -> NatsClient:
        if self._nc is not None and not self._nc.is_closed:
            return self._nc

        async def disconnected() -> None:
            self._mark_stale()

        async def reconnected() -> None:
            self._resync.set()

        async def error(exc: Exception) -> None:
            _log.debug("flag client NATS error: %r", exc)

        self._nc = await nats.connect(
            self._url,
            name=self._name,
            connect_timeout=2,
            reconnect_time_wait=self._retry_s,
            max_reconnect_attempts=-1,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )
        return self._nc

    def _mark_stale(self) -> None:
        if self._stale_since is None:
            self._stale_since = time.monotonic()

    async def _run(self) -> None:
        while True:
            try:
                await self._watch(await self._connect())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS down, bucket missing: keep the cache, retry
                self._mark_stale()
                _log.warning("flag watch interrupted (%s); serving the last known flags", type(exc).__name__)
                await asyncio.sleep(self._retry_s)

    async def _watch(self, nc: NatsClient) -> None:
        try:
            kv: KeyValue = await nc.jetstream().key_value(self._bucket)
        except BucketNotFoundError:
            await asyncio.sleep(self._retry_s)
            return
        self._resync.clear()
        watcher = await kv.watchall()
        snapshot: dict[str, Flag] | None = {}
        try:
            while not self._resync.is_set():
                try:
                    entry = await watcher.updates(timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # end of the initial snapshot
                    if snapshot is not None:
                        self._flags = snapshot
                        snapshot = None
                        self._stale_since = None
                        self._loaded.set()
                        FLAG_UPDATES.labels(self._bucket, "snapshot").inc()
                        FLAG_CACHE_SIZE.labels(self._bucket).set(len(self._flags))
                    continue
                self._apply(snapshot, entry)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()

    def _apply(self, snapshot: dict[str, Flag] | None, entry: KeyValue.Entry) -> None:
        target = snapshot if snapshot is not None else self._flags
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            if snapshot is None:
                # Copy-on-write: readers iterating `keys()` never see the dict change size.
                flags = dict(self._flags)
                flags.pop(entry.key, None)
                self._flags = flags
                FLAG_UPDATES.labels(self._bucket, "delete").inc()
            else:
                target.pop(entry.key, None)
            return
        try:
            flag = Flag.from_json(orjson.loads(entry.value))
        except (ValueError, KeyError, TypeError):
            FLAG_UPDATES.labels(self._bucket, "rejected").inc()
            _log.warning("ignoring malformed flag document for %r", entry.key)
            return
        current = target.get(flag.key)
        if current is not None and current.version > flag.version:
            return  # an older document replayed: keep the newer one
        if snapshot is None:
            self._flags = {**self._flags, flag.key: flag}
            FLAG_UPDATES.labels(self._bucket, "update").inc()
            FLAG_CACHE_SIZE.labels(self._bucket).set(len(self._flags))
        else:
            target[flag.key] = flag
