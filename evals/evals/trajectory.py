"""Trajectory matching over the ledger's tool calls: strict, unordered, subset, superset, with partial arguments.

The modes read as in LangChain's agentevals: `strict` the same calls in the same order; `unordered` the same calls
in any order; `subset` the run called nothing beyond the expected calls (each actual call matches a distinct
expected one); `superset` the run made at least the expected calls (each expected call matches a distinct actual
one). An expected step is a tool name, or `{tool, args}` whose `args` must be a subset of the call's arguments
(nested objects compared the same way, everything else by equality).
"""

from __future__ import annotations

from typing import Any

__all__ = ["args_match", "describe", "matches", "step_matches"]


def args_match(expected: Any, actual: Any) -> bool:
    """`expected` is contained in `actual`: every key of an expected object matches, other values are equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and args_match(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def step_matches(expected: str | dict[str, Any], call: dict[str, Any]) -> bool:
    if isinstance(expected, str):
        return call.get("tool") == expected
    return call.get("tool") == expected["tool"] and args_match(expected.get("args", {}), call.get("args") or {})


def describe(expected: str | dict[str, Any]) -> str:
    return expected if isinstance(expected, str) else str(expected["tool"])


def _bipartite(left: list[Any], right: list[Any], fits: Any) -> int:
    """Size of a maximum matching of `left` into `right` under `fits(l, r)` (augmenting paths; lists are short)."""
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j in range(len(right)):
            if j in seen or not fits(left[i], right[j]):
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    return sum(1 for i in range(len(left)) if place(i, set()))


def matches(mode: str, expected: list[str | dict[str, Any]], calls: list[dict[str, Any]]) -> bool:
    """Whether the run's `calls` (ledger rows, in request order) satisfy `expected` under `mode`."""
    if mode == "strict":
        return len(expected) == len(calls) and all(step_matches(e, c) for e, c in zip(expected, calls, strict=True))
    matched = _bipartite(expected, calls, step_matches)
    if mode == "unordered":
        return len(expected) == len(calls) and matched == len(expected)
    if mode == "subset":
        return matched == len(calls)
    if mode == "superset":
        return matched == len(expected)
    raise ValueError(f"unknown trajectory mode {mode!r}")
