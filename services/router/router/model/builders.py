"""Build artifact documents: the constant kind (tests, canaries) and the linear kind (router-train)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from router.model.artifact import seal, write_document
from router.model.predictor import DEFAULT_TIERS, RouterModel

__all__ = ["constant_document", "constant_model", "write_constant_artifact"]


def constant_document(
    p: Mapping[str, float],
    version: str = "constant",
    tiers: Sequence[str] = DEFAULT_TIERS,
    eval_report: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A sealed constant-kind document: `predict` returns `p` for every request."""
    return seal(
        {
            "kind": "constant",
            "version": version,
            "tiers": list(tiers),
            "data_hash": "",
            "eval_report": dict(eval_report or {}),
            "model": {"p": {tier: float(p[tier]) for tier in tiers}},
        }
    )


def constant_model(
    p: Mapping[str, float], version: str = "constant", tiers: Sequence[str] = DEFAULT_TIERS
) -> RouterModel:
    """A constant RouterModel without touching disk."""
    return RouterModel(constant_document(p, version, tiers))


def write_constant_artifact(
    path: str | Path, p: Mapping[str, float], version: str = "constant", tiers: Sequence[str] = DEFAULT_TIERS
) -> dict[str, Any]:
    """Write a sealed constant artifact to `path` and return the document."""
    return write_document(constant_document(p, version, tiers), path)
