"""The strict reader of a judge reply: exactly one boolean verdict per rubric criterion, or JudgeParseError.

Accepted: a JSON object whose `criteria` is a list of `{id, met, evidence}` with `met` a real boolean, every
rubric id exactly once and no other id. Anything else is a parse failure, never a score: text around the
JSON, a truncated reply, a refusal, an `error` the judge reports, a string "true". Keys beyond those (a
`score`, a `verdict`, a criterion's own `grade`) are ignored, since the score is computed from `met` alone.
"""

from __future__ import annotations

import json
from typing import Any

from evals.judge.errors import JudgeParseError

__all__ = ["parse_verdicts"]

_SHOWN = 300


def _fail(message: str, content: str) -> JudgeParseError:
    return JudgeParseError(f"judge reply rejected: {message} (reply: {content[:_SHOWN]!r})", content)


def _verdict(item: Any, index: int, content: str) -> tuple[str, bool, str]:
    if not isinstance(item, dict):
        raise _fail(f"criteria[{index}] is not an object", content)
    criterion, met, evidence = item.get("id"), item.get("met"), item.get("evidence", "")
    if not isinstance(criterion, str):
        raise _fail(f"criteria[{index}].id is not a string", content)
    if not isinstance(met, bool):
        raise _fail(f"criteria[{index}].met is not a boolean", content)
    if not isinstance(evidence, str):
        raise _fail(f"criteria[{index}].evidence is not a string", content)
    return criterion, met, evidence


def parse_verdicts(content: str | None, ids: list[str], finish_reason: str | None = "stop") -> list[dict[str, Any]]:
    """`[{id, met, evidence}]` in rubric order (`ids`), read from the reply `content`."""
    text = content or ""
    if finish_reason == "length":
        raise _fail("the reply was cut at the token limit", text)
    if not text.strip():
        raise _fail("the reply is empty", text)
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"not JSON ({exc.msg} at {exc.pos})", text) from None
    if not isinstance(body, dict):
        raise _fail("not a JSON object", text)
    if body.get("error"):
        raise _fail(f"the judge reports an error: {body['error']}", text)
    items = body.get("criteria")
    if not isinstance(items, list):
        raise _fail("no `criteria` list", text)
    found: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        criterion, met, evidence = _verdict(item, index, text)
        if criterion in found:
            raise _fail(f"criterion {criterion!r} is judged twice", text)
        found[criterion] = {"id": criterion, "met": met, "evidence": evidence}
    unknown = sorted(set(found) - set(ids))
    missing = [criterion for criterion in ids if criterion not in found]
    if unknown:
        raise _fail(f"unknown criteria {unknown}", text)
    if missing:
        raise _fail(f"no verdict for criteria {missing}", text)
    return [found[criterion] for criterion in ids]
