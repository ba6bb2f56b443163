"""The one definition of a canonical episode: what an exported episode keeps, strips and renames.

An episode is one run's record (`orch_runs` row, `orch_steps` in write order, `tool_calls` in request order) as a
JSON object. Canonical means two recordings of the same behaviour give the same bytes:

- keys sorted, no spaces (`dumps_line`);
- recording metadata stripped (`VOLATILE_KEYS`): row timestamps, latencies, row ids, the run's and tenant's ids,
  idempotency keys (a function of those ids), the gateway's request id, the client's idempotency key, deliveries;
  a timestamp-like value (string or number, never a boolean) under `TIMESTAMP_KEYS` anywhere in a payload (the
  toolbox's `created`) too. Clock readings (`{"at": ...}` of `clock` steps) are data and stay: replay needs them;
- ids that differ per run replaced by value, consistently within the episode, in order of first appearance
  (`ID_PATTERNS`): UUIDs (documents, chunks, leads), toolbox object ids (`ch_<16 hex>`), tracking numbers, the
  provider's completion ids. A value replaced in a tool result is replaced identically in the arguments, prompts
  and outputs derived from it, so the episode stays self-consistent for replay;
- every step carries its `fingerprint` (orchestrator.ledger.call_fingerprint) computed after the replacement;
- `episode_id` = the first 16 hex of the sha256 of the canonical episode without it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from orchestrator.ledger import call_fingerprint

__all__ = [
    "FORMAT",
    "ID_PATTERNS",
    "PAYLOAD_VOLATILE_KEYS",
    "TIMESTAMP_KEYS",
    "VOLATILE_KEYS",
    "canonical_episode",
    "canonical_value",
    "dumps_line",
    "logical_steps",
    "sha256_hex",
]

FORMAT = "aiaas.episode/1"

# Recording metadata, dropped wherever it appears as a key of the run, a step or a tool call.
VOLATILE_KEYS = frozenset(
    {
        "id",
        "tenant_id",
        "run_id",
        "idempotency_key",
        "idem_key",
        "input_sha256",
        "request_sha256",
        "request_id",
        "latency_ms",
        "deliveries",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "requested_at",
        "completed_at",
        "interrupt_expires_at",
    }
)
# Timestamp-like values under these keys are dropped inside payloads too (results, completions, outputs).
TIMESTAMP_KEYS = frozenset({"created", "created_at", "updated_at", "system_fingerprint"})
# Ids of the recording itself, dropped inside payloads whatever their value (a step's request, an llm response).
PAYLOAD_VOLATILE_KEYS = frozenset({"idem_key", "request_id"})

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
ID_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], int], str]], ...] = (
    (re.compile(_UUID), lambda m, n: f"00000000-0000-4000-8000-{n:012d}"),
    (re.compile(r"\b([a-z]{2,8})_[0-9a-f]{16}\b"), lambda m, n: f"{m.group(1)}_{n:016d}"),
    (re.compile(r"\b1Z[0-9A-F]{16}\b"), lambda m, n: f"1Z{n:016d}"),
    (re.compile(r"\bchatcmpl-[A-Za-z0-9_-]+"), lambda m, n: f"chatcmpl-{n}"),
)
_ROUND = re.compile(r"@\d+$")


def dumps_line(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, no trailing newline."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(dumps_line(value)).hexdigest()


class _Ids:
    """Replaces per-run ids by value, the same id by the same placeholder, numbered in order of appearance."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def text(self, value: str) -> str:
        for pattern, placeholder in ID_PATTERNS:
            value = pattern.sub(lambda m, p=placeholder: self._one(m, p), value)  # type: ignore[misc]
        return value

    def _one(self, match: re.Match[str], placeholder: Callable[[re.Match[str], int], str]) -> str:
        found = match.group(0)
        if found not in self._seen:
            self._seen[found] = placeholder(match, len(self._seen) + 1)
        return self._seen[found]


class _KeepIds(_Ids):
    def text(self, value: str) -> str:
        return value


def canonical_value(value: Any, ids: _Ids | None = None, *, strip: bool = True, mapping: bool = True) -> Any:
    """`value` with ids replaced (unless `mapping` is off: a value already canonical, e.g. a replay's outcome) and
    timestamp-like payload fields dropped, keys in sorted order."""
    ids = ids or (_Ids() if mapping else _KeepIds())
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key in sorted(value):
            item = value[key]
            if strip and key in PAYLOAD_VOLATILE_KEYS:
                continue
            if strip and key in TIMESTAMP_KEYS and isinstance(item, str | int | float) and not isinstance(item, bool):
                continue
            out[ids.text(key)] = canonical_value(item, ids, strip=strip)
        return out
    if isinstance(value, list):
        return [canonical_value(item, ids, strip=strip) for item in value]
    if isinstance(value, str):
        return ids.text(value)
    return value


def _without(row: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in keys}


def canonical_episode(run: dict[str, Any], steps: list[dict[str, Any]], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The canonical episode of one run from its rows (dicts of the columns, steps and calls in record order)."""
    ids = _Ids()
    call_refs = {str(call["id"]): f"{call['node']}#{call['seq']}" for call in calls}
    head = canonical_value(_without(run, VOLATILE_KEYS), ids)
    head["input"] = canonical_value(run["input"], ids, strip=False)
    out_steps = []
    for step in steps:
        row = canonical_value(_without(step, VOLATILE_KEYS), ids)
        row["cost_usd"] = str(Decimal(str(step.get("cost_usd") or 0)).normalize())
        row["fingerprint"] = call_fingerprint(row["kind"], row["request"])
        out_steps.append(row)
    out_calls = []
    for call in calls:
        row = canonical_value(_without(call, VOLATILE_KEYS), ids)
        of = call.get("compensation_of")
        row["compensation_of"] = None if of is None else call_refs.get(str(of), "unknown")
        out_calls.append(row)
    episode = {"format": FORMAT, **head, "steps": out_steps, "tool_calls": out_calls}
    episode["episode_id"] = sha256_hex(episode)[:16]
    return episode


def logical_steps(episode: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls EXACT replay matches, in record order: each step key once, a retried call as its last round (its
    earlier rounds, `<key>@<n>`, are the same call asked again by the ledger, not by a node)."""
    order: list[str] = []
    last: dict[str, dict[str, Any]] = {}
    for step in episode["steps"]:
        base = _ROUND.sub("", str(step["step_key"]))
        if base not in last:
            order.append(base)
        last[base] = {**step, "step_key": base}
    return [last[key] for key in order]
