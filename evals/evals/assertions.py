"""The assertion engine: `evaluate(task, observation)` checks every entry of a golden task's `assert[]`.

Each check returns the failures it finds (none when the assertion holds); every failure names the task, the
assertion's index and type, the path it looked at, the expected and the actual value. Paths are RFC 9535
JSONPath over `{status, output, error, interrupt}` (see `Observation.document`), or `trajectory`, `events...`,
`saga...`, `budget...` for the assertions that read the history.

jsonpath values: a path selecting one node compares that node's value; a path selecting several (a wildcard)
compares the list of their values, so `$.output.reply.citations[*].filename contains x` reads naturally.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from evals.jsonpath import query
from evals.observation import Failure, Observation
from evals.trajectory import describe, matches

__all__ = ["evaluate"]

_MISSING = "<no value>"
Check = Callable[[str, int, dict[str, Any], Observation], list[Failure]]


def evaluate(task: dict[str, Any], observation: Observation) -> list[Failure]:
    """Every failure of `task`'s assertions against `observation`, in assertion order."""
    failures: list[Failure] = []
    for index, assertion in enumerate(task["assert"]):
        failures.extend(_CHECKS[assertion["type"]](str(task["id"]), index, assertion, observation))
    return failures


def _selected(path: str, observation: Observation) -> tuple[bool, Any]:
    nodes = query(path, observation.document())
    if not nodes:
        return False, None
    if len(nodes) == 1:
        return True, nodes[0].value
    return True, [node.value for node in nodes]


def _check_json_schema(task_id: str, index: int, assertion: dict[str, Any], observation: Observation) -> list[Failure]:
    path = assertion.get("path", "$.output")
    found, value = _selected(path, observation)
    if not found:
        return [Failure(task_id, index, "json_schema", path, "a value valid against the schema", _MISSING)]
    validator = Draft202012Validator(assertion["schema"], format_checker=FormatChecker())
    return [
        Failure(
            task_id,
            index,
            "json_schema",
            path + "".join(f"[{p}]" if isinstance(p, int) else f"['{p}']" for p in error.absolute_path),
            {str(error.validator): error.validator_value},
            error.instance,
            error.message[:300],
        )
        for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _holds(op: str, actual: Any, expected: Any) -> bool:
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        return isinstance(actual, list) and expected in actual
    if op == "regex":
        return isinstance(actual, str) and re.search(expected, actual) is not None
    if op == "gte":
        return _number(actual) and actual >= expected
    if op == "lte":
        return _number(actual) and actual <= expected
    raise ValueError(f"unknown jsonpath op {op!r}")


def _check_jsonpath(task_id: str, index: int, assertion: dict[str, Any], observation: Observation) -> list[Failure]:
    path, op = assertion["path"], assertion["op"]
    found, actual = _selected(path, observation)
    if op == "exists":
        want = assertion.get("value", True)
        if found == want:
            return []
        shown = actual if found else _MISSING
        return [Failure(task_id, index, "jsonpath", path, f"exists: {want}", shown)]
    expected = assertion["value"]
    if not found:
        return [Failure(task_id, index, "jsonpath", path, f"{op} {expected!r}", _MISSING)]
    if _holds(op, actual, expected):
        return []
    return [Failure(task_id, index, "jsonpath", path, f"{op} {expected!r}", actual)]


def _check_trajectory(task_id: str, index: int, assertion: dict[str, Any], observation: Observation) -> list[Failure]:
    calls = observation.tool_calls
    if not assertion.get("include_compensations", False):
        calls = [call for call in calls if call.get("compensation_of") is None]
    mode, steps = assertion["mode"], assertion["steps"]
    if matches(mode, steps, calls):
        return []
    expected = f"{mode} {[describe(step) for step in steps]}"
    actual = [{"tool": call.get("tool"), "args": call.get("args")} for call in calls]
    return [Failure(task_id, index, "trajectory", "trajectory", expected, actual, "tool calls in request order")]


def _event_counts(events: list[dict[str, Any]], tool: str | None = None) -> Counter[str]:
    return Counter(
        str(event.get("type"))
        for event in events
        if str(event.get("type", "")).startswith("tool.call.")
        and (tool is None or (event.get("data") or {}).get("tool") == tool)
    )


def _check_events(task_id: str, index: int, assertion: dict[str, Any], observation: Observation) -> list[Failure]:
    failures: list[Failure] = []
    wanted: list[tuple[str, str | None, dict[str, int]]] = []
    if "counts" in assertion:
        wanted.append(("events", None, assertion["counts"]))
    for tool, counts in assertion.get("per_tool", {}).items():
        wanted.append((f"events.per_tool['{tool}']", tool, counts))
    for where, tool, counts in wanted:
        seen = _event_counts(observation.events, tool)
        for event_type, count in counts.items():
            if seen[event_type] != count:
                failures.append(Failure(task_id, index, "events", f"{where}['{event_type}']", count, seen[event_type]))
    return failures


def _check_saga(task_id: str, index: int, assertion: dict[str, Any], observation: Observation) -> list[Failure]:
    failures: list[Failure] = []
    if "status" in assertion and observation.status != assertion["status"]:
        failures.append(Failure(task_id, index, "saga", "saga.status", assertion["status"], observation.status))
    by_id = {str(call.get("id")): call for call in observation.tool_calls}
    undoing = [
        call
        for call in observation.tool_calls
        if call.get("compensation_of") is not None and call.get("status") == "succeeded"
    ]
    compensations = [str(call.get("tool")) for call in undoing]
    compensated = [str(by_id.get(str(call["compensation_of"]), {}).get("tool", "?")) for call in undoing]
    for key, actual in (("compensated", compensated), ("compensations", compensations)):
        if key in assertion and actual != assertion[key]:
            failures.append(Failure(task_id, index, "saga", f"saga.{key}", assertion[key], actual))
    return failures


def _check_budget(task_id: str, index: int, assertion: dict[str, Any], observation: Observation) -> list[Failure]:
    spent: dict[str, float | None] = {
        "llm_calls": observation.llm_calls(),
        "tool_calls": len(observation.tool_calls),
        "tokens": observation.tokens(),
        "latency_ms": observation.run_latency_ms(),
    }
    failures: list[Failure] = []
    for key in ("llm_calls", "tool_calls", "tokens", "latency_ms"):
        if key not in assertion:
            continue
        actual = spent[key]
        if actual is None or actual > assertion[key]:
            shown = _MISSING if actual is None else actual
            failures.append(Failure(task_id, index, "budget", f"budget.{key}", f"<= {assertion[key]}", shown))
    return failures


def _check_not_contains(task_id: str, index: int, assertion: dict[str, Any], observation: Observation) -> list[Failure]:
    path = assertion.get("path", "$.output.text")
    found, value = _selected(path, observation)
    if not found:
        return [Failure(task_id, index, "not_contains", path, "a value to search", _MISSING)]
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    sensitive = assertion.get("case_sensitive", False)
    haystack = text if sensitive else text.lower()
    return [
        Failure(task_id, index, "not_contains", path, f"not containing {term!r}", text[:300])
        for term in assertion["values"]
        if (term if sensitive else term.lower()) in haystack
    ]


_CHECKS: dict[str, Check] = {
    "json_schema": _check_json_schema,
    "jsonpath": _check_jsonpath,
    "trajectory": _check_trajectory,
    "events": _check_events,
    "saga": _check_saga,
    "budget": _check_budget,
    "not_contains": _check_not_contains,
}
