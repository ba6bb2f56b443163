"""`python -m evals replay` (evals.replay.cli.main): exit 0 without a divergence, 1 with one (printed), 2 for a
mode this build does not support, a missing or malformed episode file, an unknown episode id."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from evals.replay.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "episodes"


def _first_lines(n: int) -> list[dict]:
    lines = (CORPUS / "corpus.jsonl").read_bytes().splitlines()
    return [orjson.loads(line) for line in lines[:n]]


def test_exact_on_the_corpus_exits_0_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"

    assert main(["--mode", "exact", "--episodes", str(CORPUS), "--report", str(report)]) == 0

    body = json.loads(report.read_text())
    assert body["divergences"] == 0 and body["errors"] == 0 and body["sockets_opened"] == 0 and body["diverged"] == []
    assert body["episodes"] >= 30 and body["steps"] >= body["episodes"]
    assert "0 divergences, 0 sockets opened" in capsys.readouterr().out


def test_episode_ids_are_looked_up_in_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    ids = [episode["episode_id"] for episode in _first_lines(2)]

    assert main(["--mode", "exact", "--episodes", ",".join(ids)]) == 0
    assert "EXACT replay: 2 episodes" in capsys.readouterr().out


def test_a_tampered_record_exits_1_naming_the_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    episode = _first_lines(1)[0]
    episode["steps"][1]["fingerprint"] = "0" * 64
    path = tmp_path / "tampered.jsonl"
    path.write_bytes(orjson.dumps(episode) + b"\n")

    assert main(["--mode", "exact", "--episodes", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"episode {episode['episode_id']} (faq): divergence at step 1: expected {'0' * 64}" in out


@pytest.mark.parametrize("mode", ["parametric", "live"])
def test_unsupported_modes_exit_2_listing_the_supported_ones(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--mode", mode, "--episodes", str(CORPUS)]) == 2
    assert "supported modes: exact, stress" in capsys.readouterr().err


def test_stress_mode_goes_to_the_stress_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--mode stress` hands the rest of the arguments to STRESS: a plan that does not exist is its exit 2."""
    missing = tmp_path / "no-plan.yaml"
    assert main(["--mode", "stress", "--faults", str(missing), "--episodes", "generator"]) == 2
    assert "no-plan.yaml" in capsys.readouterr().err


def test_bad_episode_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"episode_id": "x", "steps": []}\nnot json\n')
    not_episode = tmp_path / "other.jsonl"
    not_episode.write_text('{"hello": 1}\n')

    assert main(["--mode", "exact", "--episodes", str(broken)]) == 2
    assert "broken.jsonl:2: not JSON" in capsys.readouterr().err
    assert main(["--mode", "exact", "--episodes", str(not_episode)]) == 2
    assert "not an episode" in capsys.readouterr().err
    assert main(["--mode", "exact", "--episodes", "no-such-episode"]) == 2
    assert "no-such-episode" in capsys.readouterr().err
    assert main(["--episodes", str(CORPUS)]) == 2  # --mode is required
