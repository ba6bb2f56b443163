"""The issue's goals for the router, checked against a router-eval report (test splits only)."""

from __future__ import annotations

from typing import Any

__all__ = ["GOALS", "check_goals"]

# name -> (bound, "le" | "ge" | "true")
GOALS: dict[str, tuple[float, str]] = {
    "gsm8k_cpt95": (0.65, "le"),
    "mmlu_cpt95": (0.47, "le"),
    "mt_bench_cpt95": (0.21, "le"),
    "ece_after": (0.05, "le"),
    "ece_after_le_before": (1.0, "true"),
    "routerbench_cost_share": (0.30, "le"),
    "routerbench_reaches_gpt4_accuracy": (1.0, "true"),
}


def _measured(report: dict[str, Any]) -> dict[str, Any]:
    routellm = report["routellm"]
    pooled = report["calibration"]["pooled"]
    rb = report["routerbench"]["router"]
    return {
        "gsm8k_cpt95": routellm["gsm8k"]["router"]["cpt95"],
        "mmlu_cpt95": routellm["mmlu"]["router"]["cpt95"],
        "mt_bench_cpt95": routellm["mt_bench"]["router"]["cpt95"],
        "ece_after": pooled["ece_after"],
        "ece_after_le_before": pooled["ece_after"] <= pooled["ece_before"],
        "routerbench_cost_share": rb["cost_share_at_95pct_gpt4_accuracy"],
        "routerbench_reaches_gpt4_accuracy": rb["reaches_gpt4_accuracy"],
    }


def check_goals(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal's measured value, bound and whether it is met."""
    measured = _measured(report)
    out: dict[str, dict[str, Any]] = {}
    for name, (bound, how) in GOALS.items():
        value = measured[name]
        if how == "true":
            met = bool(value)
        elif value is None:
            met = False
        else:
            met = float(value) <= bound if how == "le" else float(value) >= bound
        out[name] = {"measured": value, "bound": bound if how != "true" else True, "met": met}
    return out
