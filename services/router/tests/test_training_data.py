"""Training data: the fixed split, the loaders' parsing rules (on small files written here), the data hash."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from router.training.datasets import (
    CHEAP_MODEL,
    STRONG_MODEL,
    calibration_part,
    data_hash,
    is_test,
    load_gsm8k,
    load_mmlu,
    load_mt_bench,
    load_routerbench,
    routellm_files,
    split_examples,
)


@pytest.mark.parametrize(
    ("prompt", "test"),
    [("hello", True), ("What is 2+2?", False), ("rcb", False), ("Janet’s ducks", False), ("", True)],
)
def test_split_matches_the_spec_on_examples(prompt: str, test: bool) -> None:
    # sha256("rcb-v1" + prompt) hex digest as an integer, odd -> test (values computed once with hashlib)
    assert is_test(prompt) is test
    assert (int(hashlib.sha256(f"rcb-v1{prompt}".encode()).hexdigest(), 16) % 2 == 1) is test


def test_split_is_about_half_and_calibration_about_a_fifth() -> None:
    prompts = [f"question number {i}" for i in range(4000)]
    share_test = sum(is_test(p) for p in prompts) / len(prompts)
    share_cal = sum(calibration_part(p) for p in prompts) / len(prompts)
    assert 0.47 < share_test < 0.53
    assert 0.17 < share_cal < 0.23


def write_routellm(root: Path) -> None:
    base = root / "router" / "routellm"
    (base / "mmlu_responses").mkdir(parents=True)
    with (base / "gsm8k_responses.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", CHEAP_MODEL, STRONG_MODEL, f"{CHEAP_MODEL}_response", f"{STRONG_MODEL}_response"])
        w.writerow(["Add 2 and 3.\nThen double it.", "True", "True", "10", "10"])
        w.writerow(["A leaked question", "False", "True", "x", "y"])
        w.writerow(["Multiply 4 by 5", "False", "False", "x", "y"])
    (base / "contaminated_gsm8k.jsonl").write_text(
        json.dumps({"train_prompt": "t", "eval_prompt": "A leaked question"}) + "\n"
    )
    for subject, rows in {
        "b_subject": [("Q b1", "True", "False")],
        "a_subject": [("Q a1", "False", "True"), ("Q a2", "True", "True")],
    }.items():
        with (base / "mmlu_responses" / f"mmlu_{subject}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["prompt", CHEAP_MODEL, STRONG_MODEL])
            w.writerows(rows)
    (base / "contaminated_mmlu.jsonl").write_text(json.dumps({"eval_prompt": "Q a2"}) + "\n")
    questions = [
        {"question_id": 81, "category": "writing", "turns": ["Write a poem", "Shorter"]},
        {"question_id": 82, "category": "math", "turns": ["Solve x", "Leaked second turn"]},
        {"question_id": 83, "category": "coding", "turns": ["Write code", "Now in C"]},
    ]
    (base / "mt_bench_question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (base / "contaminated_mt_bench.jsonl").write_text(json.dumps({"eval_prompt": "Leaked second turn"}) + "\n")
    judgements = []
    for qid in (81, 82, 83):
        for model, (s1, s2) in ((CHEAP_MODEL, (6, 9)), (STRONG_MODEL, (10, 8.5))):
            for turn, score in ((1, s1), (2, s2)):
                judgements.append({"question_id": qid, "model": model, "score": score, "turn": turn})
    (base / "mt_bench_judgements.jsonl").write_text("".join(json.dumps(j) + "\n" for j in judgements))


def test_routellm_loaders(tmp_path: Path) -> None:
    write_routellm(tmp_path)
    gsm8k = load_gsm8k(tmp_path)
    assert [(e.prompt, e.cheap_ok, e.strong_ok) for e in gsm8k] == [
        ("Add 2 and 3.\nThen double it.", True, True),
        ("Multiply 4 by 5", False, False),
    ]
    mmlu = load_mmlu(tmp_path)
    assert [(e.subject, e.prompt, e.cheap_ok, e.strong_ok) for e in mmlu] == [
        ("a_subject", "Q a1", False, True),
        ("b_subject", "Q b1", True, False),
    ]
    mt = load_mt_bench(tmp_path)
    assert [(q.question_id, q.turn1, q.cheap_score, q.strong_score) for q in mt] == [
        (81, "Write a poem", 7.5, 9.25),
        (83, "Write code", 7.5, 9.25),
    ]
    train, test = split_examples(gsm8k + mmlu)
    assert {e.prompt for e in test} == {e.prompt for e in gsm8k + mmlu if is_test(e.prompt)}
    assert len(train) + len(test) == 4
    files = routellm_files(tmp_path)
    first = data_hash(files, tmp_path)
    assert first == data_hash(files, tmp_path)
    (tmp_path / "router" / "routellm" / "mmlu_responses" / "mmlu_a_subject.csv").write_text("prompt\n")
    assert data_hash(files, tmp_path) != first


def test_routellm_loader_rejects_a_bad_label(tmp_path: Path) -> None:
    write_routellm(tmp_path)
    path = tmp_path / "router" / "routellm" / "gsm8k_responses.csv"
    path.write_text(path.read_text().replace("False,False", "maybe,False"))
    with pytest.raises(ValueError, match="True/False"):
        load_gsm8k(tmp_path)


def test_routerbench_loader_drops_blank_rows_and_parses_prompts(tmp_path: Path) -> None:
    base = tmp_path / "router" / "routerbench_subset"
    base.mkdir(parents=True)
    models = ["m-small", "gpt-4-1106-preview"]
    header = ["", "sample_id", "prompt", "eval_name", *models, *(f"{m}|total_cost" for m in models), "oracle"]
    for name in ("arc_challenge", "mbpp", "winograde"):
        for split in ("train", "test"):
            with (base / f"{name}_{split}.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerow(
                    ["1", f"{name}.1", "['First part', 'second part']", name, "1.0", "0.0", "0.001", "0.01", "m"]
                )
                w.writerow(["2", f"{name}.2", "['Blank score']", name, "", "1.0", "0.001", "0.01", "m"])
                w.writerow(["3", f"{name}.3", "not a list", name, "0.0", "1.0", "0.002", "0.02", "m"])
    rows = load_routerbench(tmp_path, "test")
    assert len(rows) == 6
    assert rows[0].prompt == "First part\nsecond part"
    assert rows[1].prompt == "not a list"
    assert rows[0].scores == {"m-small": 1.0, "gpt-4-1106-preview": 0.0}
    assert rows[1].costs == {"m-small": 0.002, "gpt-4-1106-preview": 0.02}
    with pytest.raises(ValueError):
        load_routerbench(tmp_path, "dev")
