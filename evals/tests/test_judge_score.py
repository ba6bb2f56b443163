"""Score arithmetic, the strict reply parser, epoch seeds, cache keys, the cache's files, calibration maths."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evals.judge import JudgeParseError, load_calibration_status
from evals.judge.cache import VerdictCache, cache_key
from evals.judge.calibration import LabelsError, agreement_and_kappa, load_labels
from evals.judge.judge import epoch_seed
from evals.judge.parse import parse_verdicts
from evals.judge.rubric import load, weighted_score

IDS = ["approved", "charged-first-then-shipped", "customer-notified", "gives-tracking", "nothing-failed"]


def _reply(met: dict[str, bool], **extra: object) -> str:
    return json.dumps({"criteria": [{"id": i, "met": m, "evidence": "e"} for i, m in met.items()], **extra})


def test_weighted_score_is_met_weight_over_total_weight():
    weights = load("order-fulfilled@v1").weights
    assert weights == {"approved": 2.0, "charged-first-then-shipped": 1.0, "customer-notified": 1.0,
                       "gives-tracking": 2.0, "nothing-failed": 1.0}  # fmt: skip
    assert weighted_score(weights, dict.fromkeys(IDS, True)) == 1.0
    assert weighted_score(weights, dict.fromkeys(IDS, False)) == 0.0
    met = {**dict.fromkeys(IDS, True), "gives-tracking": False}
    assert weighted_score(weights, met) == pytest.approx(5 / 7)
    assert weighted_score(weights, {**met, "nothing-failed": False}) == pytest.approx(4 / 7)
    with pytest.raises(ValueError, match="verdicts for"):
        weighted_score(weights, {"approved": True})


def test_rubric_refs_must_be_versioned():
    with pytest.raises(ValueError, match="<name>@v<n>"):
        load("order-fulfilled")
    assert load("lead-existing@v1").ids == ["not-created-again", "create-skipped", "thanks-and-time", "no-error"]


def test_parser_returns_verdicts_in_rubric_order_and_ignores_any_score_or_verdict():
    met = dict.fromkeys(reversed(IDS), False)
    parsed = parse_verdicts(_reply(met, score=1.0, verdict="pass"), IDS)
    assert [v["id"] for v in parsed] == IDS
    assert all(v["met"] is False for v in parsed)


@pytest.mark.parametrize(
    ("content", "finish", "reason"),
    [
        ("The answer looks great. Score: 1.0", "stop", "not JSON"),
        ("", "stop", "empty"),
        (_reply(dict.fromkeys(IDS, True))[:40], "length", "token limit"),
        ("[true, true]", "stop", "not a JSON object"),
        (json.dumps({"criteria": [], "error": "no rubric"}), "stop", "reports an error"),
        (json.dumps({"verdict": "pass", "score": 1.0}), "stop", "no `criteria` list"),
        (_reply({**dict.fromkeys(IDS, True), "bonus": True}), "stop", "unknown criteria"),
        (_reply(dict.fromkeys(IDS[:-1], True)), "stop", "no verdict for criteria"),
        (json.dumps({"criteria": [{"id": IDS[0], "met": "true", "evidence": ""}]}), "stop", "not a boolean"),
        (json.dumps({"criteria": [{"id": IDS[0], "met": True}] * 2}), "stop", "judged twice"),
        (json.dumps({"criteria": ["approved"]}), "stop", "not an object"),
    ],
)
def test_parser_rejects_anything_but_one_boolean_verdict_per_criterion(content, finish, reason):
    with pytest.raises(JudgeParseError, match=reason) as caught:
        parse_verdicts(content, IDS, finish)
    assert caught.value.reply == content


def test_epoch_seeds_are_distinct_stable_and_follow_the_base_seed():
    seeds = [epoch_seed(7, epoch) for epoch in range(3)]
    assert len(set(seeds)) == 3 and seeds == [epoch_seed(7, epoch) for epoch in range(3)]
    assert seeds != [epoch_seed(8, epoch) for epoch in range(3)]
    assert all(0 <= seed < 2**31 for seed in seeds)


def test_cache_key_covers_model_rubric_input_answer_and_epoch():
    base = {
        "model": "sim-judge-v1",
        "rubric_ref": "faq-refunds@v1",
        "rubric_digest": "d",
        "prompt_version": "p",
        "input_messages": [{"role": "user", "content": "q"}],
        "answer": "a",
        "epoch": 0,
        "seed": 1,
    }
    key = cache_key(**base)  # type: ignore[arg-type]
    assert key == cache_key(**{**base, "input_messages": [{"content": "q", "role": "user"}]})  # type: ignore[arg-type]
    changes = {"model": "m2", "rubric_ref": "faq-refunds@v2", "rubric_digest": "e", "prompt_version": "q",
               "input_messages": [], "answer": "b", "epoch": 1, "seed": 2}  # fmt: skip
    for field, value in changes.items():
        assert cache_key(**{**base, field: value}) != key, field  # type: ignore[arg-type]


def test_cache_files_round_trip_and_a_torn_file_is_a_miss(tmp_path: Path):
    cache = VerdictCache(tmp_path)
    key = "ab" + "0" * 62
    assert cache.get(key) is None
    verdicts = [{"id": "a", "met": True, "evidence": "x"}]
    cache.put(key, verdicts)
    assert cache.get(key) == verdicts
    assert [p.name for p in (tmp_path / "ab").iterdir()] == [f"{key}.json"]  # no temporary file left behind
    (tmp_path / "ab" / f"{key}.json").write_text('{"key": "ab')
    assert cache.get(key) is None


def test_agreement_and_kappa():
    human = [True, True, False, False, True, False, True, False]
    assert agreement_and_kappa(human, human) == (1.0, 1.0)
    judge = [True, True, False, False, True, False, False, True]  # 6 of 8 agree, both say yes half the time
    agreement, kappa = agreement_and_kappa(human, judge)
    assert agreement == 0.75 and kappa == pytest.approx(0.5)
    # One class only: chance agreement is 1, kappa undefined and reported as 0 (never unlocks the gate).
    assert agreement_and_kappa([True] * 4, [True] * 4) == (1.0, 0.0)


def test_the_committed_labels_are_valid_and_hold_both_classes_and_adversarial_pairs():
    pairs = load_labels()
    assert len(pairs) >= 40
    assert {p.rubric.split("-")[0] for p in pairs} == {"faq", "order", "lead"}
    assert 0.3 < sum(p.human_pass for p in pairs) / len(pairs) < 0.7
    outputs = [json.dumps(p.output) for p in pairs]
    assert sum("ignore previous instructions" in o for o in outputs) >= 4
    assert sum("ANSWER>>>" in o for o in outputs) >= 4
    assert sum('\\"criteria\\"' in o or '"judge"' in o for o in outputs) >= 3


def test_bad_labels_name_the_line(tmp_path: Path):
    path = tmp_path / "labels.jsonl"
    good = {"id": "a", "rubric": "faq-refunds@v1", "input": [], "output": "x", "human": {"pass": True}}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "b", "human": {"pass": "yes"}}) + "\n")
    with pytest.raises(LabelsError, match="line 2: human.pass"):
        load_labels(path)
    path.write_text(json.dumps({**good, "human": {"pass": True, "criteria": {"on-topic": True}}}) + "\n")
    with pytest.raises(LabelsError, match="line 1: human.criteria must label exactly"):
        load_labels(path)
    path.write_text(json.dumps({**good, "rubric": "nope@v1"}) + "\n")
    with pytest.raises(LabelsError, match="line 1: .*does not exist"):
        load_labels(path)


def test_calibration_status_is_advisory_when_missing_stale_or_below_the_bar(tmp_path: Path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text("{}\n")
    record = tmp_path / "calibration.json"
    assert load_calibration_status(record, labels)["advisory"] is True
    digest = hashlib.sha256(labels.read_bytes()).hexdigest()
    fields = {"agreement": 0.9, "kappa": 0.7, "advisory": False, "n": 50, "labels_sha256": digest}
    record.write_text(json.dumps(fields))
    status = load_calibration_status(record, labels)
    assert {k: status[k] for k in ("agreement", "kappa", "advisory", "n")} == {
        "agreement": 0.9, "kappa": 0.7, "advisory": False, "n": 50}  # fmt: skip
    labels.write_text("{}\n{}\n")  # the labels changed since: the calibration no longer speaks for them
    assert load_calibration_status(record, labels)["advisory"] is True
    record.write_text(json.dumps({**fields, "labels_sha256": "x", "advisory": True, "kappa": 0.4}))
    assert load_calibration_status(record, labels)["advisory"] is True


def test_the_committed_calibration_is_current_and_not_advisory():
    status = load_calibration_status()
    assert status["advisory"] is False, status
    assert status["n"] >= 40 and status["agreement"] >= 0.85 and status["kappa"] >= 0.6
