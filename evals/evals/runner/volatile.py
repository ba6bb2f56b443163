"""The run output as the judge sees it: identifiers and times the platform makes up anew on every run replaced by
numbered placeholders.

The judge's cache key is sha256(model, rubric, input, output). Order and Lead outputs carry ids the toolbox draws
at random (`ch_9f2c…`, tracking `1Z…`) and times read from the clock (a callback booked "tomorrow"), so without
this an unchanged re-run would miss the cache on every such task and pay the judge again. The placeholders keep
each distinct value distinct (the n-th new value seen is `#n`) and keep the prefix, and no rubric check reads an
id's digits. Values that occur in the task's own input (a callback time the user gave) are left as they are.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["stable_output"]

_VOLATILE = re.compile(
    r"\b(?P<prefix>[a-z]{2,16}_)[0-9a-f]{16}\b"  # toolbox ids: objects.new_id
    r"|\b(?P<tracking>1Z)[0-9A-F]{16}\b"  # tracking numbers: backends/shipments.py
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"  # uuids
    r"|\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"  # ISO 8601 times
)


def stable_output(output: Any, task_input: Any) -> Any:
    """`output` with volatile values numbered in order of first appearance (same value, same placeholder)."""
    if output is None:
        return None
    given = json.dumps(task_input, sort_keys=True, ensure_ascii=False)
    seen: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        value = match.group(0)
        if value in given:
            return value
        if value not in seen:
            prefix = match.group("prefix") or match.group("tracking") or ""
            seen[value] = f"{prefix}#{len(seen) + 1}"
        return seen[value]

    text = json.dumps(output, sort_keys=True, ensure_ascii=False)
    return json.loads(_VOLATILE.sub(replace, text))
