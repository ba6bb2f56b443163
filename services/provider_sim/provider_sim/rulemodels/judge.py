"""`sim-judge-v1`: deterministic checks of a rubric against the delimited answer of a judge prompt.

Prompt contract (system, developer and user texts are joined with blank lines, then):
- the answer is everything between the FIRST `<<<ANSWER` and the LAST `ANSWER>>>`; nothing in it is read
  as an instruction, so a fake rubric, fake delimiters or "GRADE: 1.0" inside the answer change nothing;
- the rubric is the first fenced block opened by a line "```rubric" OUTSIDE the answer, closed by "```": a
  JSON or YAML list of criteria `{id, weight, check, ...}` (see `Criterion`).
Reply: `{"criteria": [{"id", "met", "evidence"}]}` in rubric order, or `{"criteria": [], "error": "..."}`
when the prompt breaks the contract. The judge gives no score: callers weigh `met` themselves.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from provider_sim.rulemodels.request import RuleRequest

__all__ = ["ANSWER_CLOSE", "ANSWER_OPEN", "Criterion", "judge_answer", "judge_reply"]

ANSWER_OPEN = "<<<ANSWER"
ANSWER_CLOSE = "ANSWER>>>"
_RUBRIC = re.compile(r"^```rubric[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_CITE = re.compile(r"\[(\d{1,3})\]")
_JSON_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```\s*$", re.DOTALL)
_PATH_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\['([^']*)'\]")
_EVIDENCE_CHARS = 80


class Criterion(BaseModel):
    """One weighted boolean criterion.

    must_mention: every term (or any, with `mode: any`) occurs in the answer, case-insensitively.
    must_not_mention: no term occurs. json_path_equals: the answer is JSON (optionally ```json-fenced) and the
    value at `path` (`$.a.b[0]['c d']`) equals `value`. cites: at least `min` distinct [n] markers, counting
    only n <= `max_n` when given.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    weight: float = Field(1.0, ge=0)
    check: Literal["must_mention", "must_not_mention", "json_path_equals", "cites"]
    terms: list[str] = Field(default_factory=list)
    mode: Literal["all", "any"] = "all"
    path: str | None = None
    value: Any = None
    min: int = Field(1, ge=0)
    max_n: int | None = Field(None, ge=1)


_RUBRIC_ADAPTER = TypeAdapter(list[Criterion])


class JudgeError(ValueError):
    """The prompt does not follow the judge contract."""


def _split(prompt: str) -> tuple[str, str]:
    """(answer, the prompt with the answer cut out)."""
    start, end = prompt.find(ANSWER_OPEN), prompt.rfind(ANSWER_CLOSE)
    if start < 0 or end < start + len(ANSWER_OPEN):
        raise JudgeError(f"no answer between {ANSWER_OPEN} and {ANSWER_CLOSE}")
    answer = prompt[start + len(ANSWER_OPEN) : end].strip("\n")
    return answer, prompt[:start] + "\n" + prompt[end + len(ANSWER_CLOSE) :]


def _rubric(outside: str) -> list[Criterion]:
    block = _RUBRIC.search(outside)
    if block is None:
        raise JudgeError("no ```rubric block outside the answer")
    try:
        criteria = _RUBRIC_ADAPTER.validate_python(yaml.safe_load(block.group(1)))
    except (yaml.YAMLError, ValidationError) as exc:
        raise JudgeError(f"invalid rubric: {exc}") from exc
    for criterion in criteria:
        if criterion.check in ("must_mention", "must_not_mention") and not criterion.terms:
            raise JudgeError(f"criterion {criterion.id!r}: {criterion.check} needs terms")
        if criterion.check == "json_path_equals" and not criterion.path:
            raise JudgeError(f"criterion {criterion.id!r}: json_path_equals needs a path")
    return criteria


def _snippet(answer: str, index: int, length: int) -> str:
    start = max(0, index - 20)
    return answer[start : min(len(answer), index + length + 20)][:_EVIDENCE_CHARS]


def _mentions(criterion: Criterion, answer: str) -> tuple[bool, str]:
    lowered = answer.lower()
    found = {term: lowered.find(term.lower()) for term in criterion.terms}
    present = [term for term, at in found.items() if at >= 0]
    if criterion.check == "must_not_mention":
        if present:
            return False, f"mentions {present[0]!r}: {_snippet(answer, found[present[0]], len(present[0]))!r}"
        return True, "mentions none of " + ", ".join(repr(t) for t in criterion.terms)
    met = bool(present) if criterion.mode == "any" else len(present) == len(criterion.terms)
    missing = [t for t in criterion.terms if t not in present]
    if met:
        return True, f"mentions {present[0]!r}: {_snippet(answer, found[present[0]], len(present[0]))!r}"
    return False, "does not mention " + ", ".join(repr(t) for t in missing)


def _at_path(document: Any, path: str) -> tuple[bool, Any]:
    if not path.startswith("$"):
        return False, None
    rest, node = path[1:], document
    while rest:
        step = _PATH_STEP.match(rest)
        if step is None:
            return False, None
        key, index, quoted = step.groups()
        rest = rest[step.end() :]
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                return False, None
            node = node[int(index)]
        else:
            name = key if key is not None else quoted
            if not isinstance(node, dict) or name not in node:
                return False, None
            node = node[name]
    return True, node


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1` and `false` is not `0` (Python's `==` says they are), at any depth."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return bool(a == b)


def _json_fact(criterion: Criterion, answer: str) -> tuple[bool, str]:
    text = answer.strip()
    fenced = _JSON_FENCE.match(text)
    try:
        document = orjson.loads(fenced.group(1) if fenced else text)
    except orjson.JSONDecodeError:
        return False, "the answer is not JSON"
    found, value = _at_path(document, criterion.path or "$")
    if not found:
        return False, f"{criterion.path} is absent"
    shown = orjson.dumps(value).decode()[:_EVIDENCE_CHARS]
    return _same_json(value, criterion.value), f"{criterion.path} = {shown}"


def _cites(criterion: Criterion, answer: str) -> tuple[bool, str]:
    numbers = sorted({int(n) for n in _CITE.findall(answer) if criterion.max_n is None or int(n) <= criterion.max_n})
    shown = ", ".join(f"[{n}]" for n in numbers) or "no citation"
    return len(numbers) >= criterion.min, f"cites {shown}"


def judge_answer(criteria: list[Criterion], answer: str) -> list[dict[str, Any]]:
    """`{id, met, evidence}` for each criterion, checked against `answer` only."""
    verdicts = []
    for criterion in criteria:
        if criterion.check in ("must_mention", "must_not_mention"):
            met, evidence = _mentions(criterion, answer)
        elif criterion.check == "json_path_equals":
            met, evidence = _json_fact(criterion, answer)
        else:
            met, evidence = _cites(criterion, answer)
        verdicts.append({"id": criterion.id, "met": met, "evidence": evidence})
    return verdicts


def judge_reply(request: RuleRequest) -> str:
    """The judge's JSON reply to a judge prompt."""
    prompt = "\n\n".join(request.texts("system", "developer", "user"))
    try:
        answer, outside = _split(prompt)
        body: dict[str, Any] = {"criteria": judge_answer(_rubric(outside), answer)}
    except JudgeError as exc:
        body = {"criteria": [], "error": str(exc)}
    return orjson.dumps(body).decode()
