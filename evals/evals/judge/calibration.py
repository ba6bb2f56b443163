"""Calibration: how often the judge's pass/fail agrees with human labels, chance-corrected (Cohen's kappa).

`evals/judge/labels.jsonl` holds labelled (rubric, input, output) pairs; each line:
    {"id", "rubric": "<name>@v<n>", "input": [chat messages], "output": {run output} | "text",
     "human": {"pass": bool, "criteria": {criterion id: bool, ...} (optional)}, "note": "..." (optional)}
The judge passes a pair when its code-computed score is >= PASS_SCORE (the golden tasks' min_score). The last
result is kept in `evals/judge/calibration.json` (committed; `python -m evals.judge.calibrate` recomputes it).
Below MIN_AGREEMENT or MIN_KAPPA, or when the file is missing or was computed from other labels, the judge part
of the gate is advisory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.judge.judge import Judge, JudgeResult
from evals.judge.rubric import load
from evals.loader import EVALS_DIR, RUBRICS_DIR

__all__ = [
    "CALIBRATION_FILE",
    "LABELS_FILE",
    "MIN_AGREEMENT",
    "MIN_KAPPA",
    "PASS_SCORE",
    "LabelledPair",
    "LabelsError",
    "agreement_and_kappa",
    "calibrate",
    "load_calibration_status",
    "load_labels",
    "write_calibration",
]

LABELS_FILE = EVALS_DIR / "judge" / "labels.jsonl"
CALIBRATION_FILE = EVALS_DIR / "judge" / "calibration.json"
PASS_SCORE = 0.8
MIN_AGREEMENT = 0.85
MIN_KAPPA = 0.6
_CONCURRENCY = 8


class LabelsError(ValueError):
    """The labels file cannot be used; the message names the line."""


@dataclass(frozen=True, slots=True)
class LabelledPair:
    id: str
    rubric: str
    input: list[dict[str, Any]]
    output: dict[str, Any] | str
    human_pass: bool
    human_criteria: dict[str, bool] | None


def _pair(line_no: int, raw: Any, rubrics_dir: Path) -> LabelledPair:
    where = f"labels line {line_no}"
    if not isinstance(raw, dict):
        raise LabelsError(f"{where}: not a JSON object")
    missing = [name for name in ("id", "rubric", "input", "output", "human") if name not in raw]
    if missing:
        raise LabelsError(f"{where}: missing {missing}")
    human = raw["human"]
    if not isinstance(human, dict) or not isinstance(human.get("pass"), bool):
        raise LabelsError(f"{where}: human.pass must be a boolean")
    if not isinstance(raw["input"], list) or not isinstance(raw["output"], dict | str):
        raise LabelsError(f"{where}: input must be a list of messages, output an object or a string")
    try:
        rubric = load(str(raw["rubric"]), rubrics_dir)
    except ValueError as exc:
        raise LabelsError(f"{where}: {exc}") from None
    criteria = human.get("criteria")
    if criteria is not None:
        if not isinstance(criteria, dict) or not all(isinstance(v, bool) for v in criteria.values()):
            raise LabelsError(f"{where}: human.criteria must map criterion ids to booleans")
        if set(criteria) != set(rubric.ids):
            raise LabelsError(f"{where}: human.criteria must label exactly {rubric.ids}")
    return LabelledPair(str(raw["id"]), rubric.ref, raw["input"], raw["output"], human["pass"], criteria)


def load_labels(path: Path = LABELS_FILE, rubrics_dir: Path = RUBRICS_DIR) -> list[LabelledPair]:
    """The labelled pairs, validated (unique ids, known rubrics and criteria)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LabelsError(f"labels file {path} cannot be read: {exc.strerror}") from None
    pairs: list[LabelledPair] = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelsError(f"labels line {line_no}: not JSON ({exc.msg})") from None
        pairs.append(_pair(line_no, raw, rubrics_dir))
    ids = [pair.id for pair in pairs]
    if len(set(ids)) != len(ids):
        raise LabelsError("labels: ids must be unique")
    if not pairs:
        raise LabelsError(f"labels file {path} holds no pairs")
    return pairs


def agreement_and_kappa(human: Sequence[bool], judge: Sequence[bool]) -> tuple[float, float]:
    """(observed agreement, Cohen's kappa) of two binary raters.

    When chance agreement is 1 (both raters gave one and the same label throughout) kappa is undefined; it is
    reported as 0.0, so a calibration set without both classes never unlocks the gate.
    """
    if len(human) != len(judge) or not human:
        raise ValueError("need two equally long, non-empty label lists")
    n = len(human)
    observed = sum(h == j for h, j in zip(human, judge, strict=True)) / n
    human_yes, judge_yes = sum(human) / n, sum(judge) / n
    chance = human_yes * judge_yes + (1 - human_yes) * (1 - judge_yes)
    if chance >= 1.0:
        return observed, 0.0
    return observed, (observed - chance) / (1 - chance)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def calibrate(judge: Judge, labels_path: Path = LABELS_FILE) -> dict[str, Any]:
    """Judge every labelled pair through `judge` and compare with the human labels (the calibration record)."""
    pairs = load_labels(labels_path, judge.settings.rubrics_dir)
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(pair: LabelledPair) -> JudgeResult:
        async with gate:
            return await judge.score(
                task_id=pair.id, rubric_ref=pair.rubric, input_messages=pair.input, output=pair.output
            )

    results = await asyncio.gather(*(one(pair) for pair in pairs))
    judge_pass = [result.score >= PASS_SCORE for result in results]
    agreement, kappa = agreement_and_kappa([p.human_pass for p in pairs], judge_pass)
    human_met: list[bool] = []
    judge_met: list[bool] = []
    for pair, result in zip(pairs, results, strict=True):
        if pair.human_criteria is not None:
            for criterion in result.criteria:
                human_met.append(pair.human_criteria[criterion["id"]])
                judge_met.append(criterion["met_share"] >= 0.5)
    criteria_stats: dict[str, Any] = {"n": len(human_met)}
    if human_met:
        criterion_agreement, criterion_kappa = agreement_and_kappa(human_met, judge_met)
        criteria_stats.update(agreement=round(criterion_agreement, 4), kappa=round(criterion_kappa, 4))
    disagreements = [
        {"id": pair.id, "human_pass": pair.human_pass, "judge_score": round(result.score, 4)}
        for pair, result, passed in zip(pairs, results, judge_pass, strict=True)
        if passed != pair.human_pass
    ]
    return {
        "agreement": round(agreement, 4),
        "kappa": round(kappa, 4),
        "advisory": agreement < MIN_AGREEMENT or kappa < MIN_KAPPA,
        "n": len(pairs),
        "judge_model": judge.settings.model,
        "epochs": judge.settings.epochs,
        "pass_score": PASS_SCORE,
        "thresholds": {"agreement": MIN_AGREEMENT, "kappa": MIN_KAPPA},
        "human_pass_share": round(sum(p.human_pass for p in pairs) / len(pairs), 4),
        "criteria": criteria_stats,
        "disagreements": disagreements,
        "labels_sha256": _sha256(labels_path),
    }


def write_calibration(record: dict[str, Any], path: Path = CALIBRATION_FILE) -> None:
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_calibration_status(path: Path = CALIBRATION_FILE, labels_path: Path = LABELS_FILE) -> dict[str, Any]:
    """`{agreement, kappa, advisory, n, reason}` from the last calibration.

    Advisory too when there is no calibration, or it was computed from labels other than the current file's.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"agreement": 0.0, "kappa": 0.0, "advisory": True, "n": 0, "reason": f"no calibration in {path.name}"}
    status = {
        "agreement": float(record["agreement"]),
        "kappa": float(record["kappa"]),
        "advisory": bool(record["advisory"]),
        "n": int(record["n"]),
        "reason": "",
    }
    if status["advisory"]:
        status["reason"] = f"agreement < {MIN_AGREEMENT} or kappa < {MIN_KAPPA}"
    try:
        current = _sha256(labels_path)
    except OSError:
        current = ""
    if record.get("labels_sha256") != current:
        status.update(advisory=True, reason=f"{path.name} was computed from other labels than {labels_path.name}")
    return status
