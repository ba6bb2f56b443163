"""Canonical JSON and the ledger's idempotency keys."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

__all__ = ["call_fingerprint", "canonical_json", "compensation_key", "idem_key", "sha256_of"]


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no spaces: equal arguments give equal bytes whatever their key order."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def idem_key(tenant_id: uuid.UUID, run_id: uuid.UUID, node: str, seq: int, tool: str, args: Any) -> str:
    """sha256 of tenant, run, node, seq, tool and the canonical arguments, joined by unit separators (hex).

    The same step of the same run with the same arguments always gets the same key, so a re-executed node re-calls
    the backend with it and gets the stored answer; other arguments get another key.
    """
    parts = [str(tenant_id), str(run_id), node, str(seq), tool]
    material = "\x1f".join(parts).encode() + b"\x1f" + canonical_json(args)
    return hashlib.sha256(material).hexdigest()


def compensation_key(key: str) -> str:
    """The key of the call that undoes the call keyed `key`."""
    return f"comp:{key}"


def call_fingerprint(kind: str, request: dict[str, Any]) -> str:
    """What a recorded call asked for, as EXACT replay matches it: sha256 of the kind and the canonical request
    without its idempotency key (a function of the run's ids, node, seq, tool and args, which are matched anyway).
    For a model call this is the model, messages, seed and max_tokens."""
    material = {key: value for key, value in request.items() if key != "idem_key"}
    return sha256_of({"kind": kind, "request": material})
