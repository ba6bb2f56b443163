"""Replies of `/admin/router/canary`: the monitor's last look at the running canary."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from aiaas.events.schemas import CanaryComparison, CanaryLatency
from router.canary.rules import ArmCounts
from router.canary.service import Evaluation

__all__ = ["ArmOut", "EvaluationOut", "MonitorOut", "evaluation_out"]


class ArmOut(BaseModel):
    version: str
    n: int
    misroutes: int
    errors: int
    timed: int
    slow: int
    p50_ms: float | None
    p95_ms: float | None


class EvaluationOut(BaseModel):
    canary: ArmOut
    stable: ArmOut
    share: float
    activated_at: datetime
    window_start: datetime
    window_end: datetime
    action: Literal["rollback", "promote", "wait"]
    reason: str
    applied: bool
    comparisons: list[CanaryComparison]
    latency: CanaryLatency


class MonitorOut(BaseModel):
    window_s: float
    alpha: float
    min_decisions: int
    evaluation: EvaluationOut | None


def _arm(version: str, counts: ArmCounts) -> ArmOut:
    return ArmOut(
        version=version,
        n=counts.n,
        misroutes=counts.misroutes,
        errors=counts.errors,
        timed=counts.timed,
        slow=counts.slow,
        p50_ms=counts.p50_ms,
        p95_ms=counts.p95_ms,
    )


def evaluation_out(evaluation: Evaluation | None) -> EvaluationOut | None:
    if evaluation is None:
        return None
    return EvaluationOut(
        canary=_arm(evaluation.canary, evaluation.canary_counts),
        stable=_arm(evaluation.stable, evaluation.stable_counts),
        share=evaluation.share,
        activated_at=evaluation.activated_at,
        window_start=evaluation.window_start,
        window_end=evaluation.window_end,
        action=evaluation.verdict.action,
        reason=evaluation.verdict.reason,
        applied=evaluation.applied,
        comparisons=evaluation.verdict.comparisons,
        latency=evaluation.verdict.latency,
    )
