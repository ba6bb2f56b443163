"""STRESS schedule: a pure function of (plan, seed, episodes), hashed; plans validated; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.loader import EVALS_DIR
from evals.stress.cli import main, prepare
from evals.stress.episodes import AGENT_TOOL_OPERATIONS, EpisodeSourceError, load_episodes
from evals.stress.plan import PlanError, load_plan, parse_plan
from evals.stress.schedule import build_schedule, toolbox_rule

FAULTS = EVALS_DIR / "faults"


def _plan(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "unit",
        "episodes": {"n": 400, "concurrency": 20},
        "faults": {
            "model": {"rate": 0.1, "kinds": {"429": 1, "500": 1}},
            "tool": {"rate": 0.1, "kinds": {"5xx": 1, "slow": 1, "lost_reply": 1}},
            "redelivery": {"rate": 0.05},
            "events": [
                {"kind": "worker_kill", "at": [0.2, 0.3]},
                {"kind": "worker_kill", "at": [0.5, 0.6]},
                {"kind": "poison", "at": 0.5},
            ],
        },
    }
    data.update(overrides)
    return data


def _schedule(data: dict[str, Any], seed: int):  # type: ignore[no-untyped-def]
    plan = parse_plan(data)
    return build_schedule(plan, seed, load_episodes("generator", plan, seed))


def test_the_same_seed_gives_the_same_schedule_and_hash():
    first, second = _schedule(_plan(), 42), _schedule(_plan(), 42)
    assert first.as_dict() == second.as_dict()
    assert first.hash == second.hash
    assert len(first.hash) == 64


def test_another_seed_gives_another_schedule():
    assert _schedule(_plan(), 42).hash != _schedule(_plan(), 43).hash


def test_the_shipped_ci_plan_hashes_the_same_twice_and_has_what_acceptance_7_asks():
    runs = [prepare(FAULTS / "ci.yaml", seed=42) for _ in range(2)]
    assert runs[0].schedule.hash == runs[1].schedule.hash == runs[0].replanned_hash()
    plan = runs[0].plan
    assert (plan.n, plan.concurrency, plan.workers) == (200, 50, 2)
    assert plan.faults["model"]["rate"] == 0.1 and plan.faults["tool"]["rate"] == 0.1
    counts = runs[0].schedule.counts()
    assert counts["worker_kill"] == 2
    assert counts["poison"] == 1 and counts["toolbox_outage"] == 1


def test_fault_shares_follow_the_rates():
    schedule = _schedule(_plan(episodes={"n": 4000, "concurrency": 20}), 7)
    with_models = [e for e in schedule.episodes if e.agent in ("lead", "faq")]
    with_tools = [e for e in schedule.episodes if AGENT_TOOL_OPERATIONS[e.agent]]
    model_share = sum(e.model is not None for e in with_models) / len(with_models)
    tool_share = sum(e.tool is not None for e in with_tools) / len(with_tools)
    assert 0.08 < model_share < 0.12
    assert 0.08 < tool_share < 0.12
    # Order runs make no model call and FAQ runs no toolbox call: no fault is planned where nothing can take it.
    assert all(e.model is None for e in schedule.episodes if e.agent == "order")
    assert all(e.tool is None for e in schedule.episodes if e.agent == "faq")
    for e in schedule.episodes:
        if e.tool is not None:
            assert e.tool["operation"] in AGENT_TOOL_OPERATIONS[e.agent]


def test_events_land_in_their_ranges_in_episode_order():
    schedule = _schedule(_plan(), 3)
    kills = [e for e in schedule.events if e.kind == "worker_kill"]
    assert 80 <= kills[0].at_episode <= 120 and 200 <= kills[1].at_episode <= 240
    assert [e.at_episode for e in schedule.events] == sorted(e.at_episode for e in schedule.events)
    assert [e.at_episode for e in schedule.events if e.kind == "poison"] == [200]


def test_adding_an_event_leaves_the_per_episode_faults_alone():
    base = _plan()
    more = _plan(faults={**base["faults"], "events": [*base["faults"]["events"], {"kind": "nats_restart", "at": 0.9}]})
    a, b = _schedule(base, 5), _schedule(more, 5)
    assert a.episodes == b.episodes
    assert a.hash != b.hash


def test_toolbox_rules_for_each_kind():
    assert toolbox_rule("t", {"operation": "payments.charge", "kind": "5xx", "fail_times": 2}) == {
        "tenant": "t",
        "operation": "payments.charge",
        "status": 503,
        "fail_times": 2,
        "retry_after": 0,
    }
    assert toolbox_rule("t", {"operation": "orders.get", "kind": "slow", "delay_ms": 900})["delay_ms"] == 900
    assert toolbox_rule("t", {"operation": "notify.send", "kind": "lost_reply"})["after_effect"] == "error"
    with pytest.raises(ValueError, match="unknown tool fault"):
        toolbox_rule("t", {"operation": "notify.send", "kind": "meteor"})


def test_episode_tags_reach_the_text_the_model_sees():
    plan = parse_plan(_plan())
    episodes = load_episodes("generator", plan, 9)
    for episode in episodes:
        if episode.agent == "lead":
            assert episode.tag in episode.input["message"]
        elif episode.agent == "faq":
            assert episode.tag in episode.input["question"]
    golden = load_episodes("golden", plan, 9)
    assert {e.agent for e in golden} == {"order", "lead", "faq"}
    assert all(e.origin.startswith("golden:") for e in golden)


def test_an_episode_file_is_read_and_a_bad_one_refused(tmp_path: Path):
    plan = parse_plan(_plan(episodes={"n": 3, "concurrency": 1}))
    good = tmp_path / "episodes.jsonl"
    good.write_text(json.dumps({"agent": "lead", "input": {"email": "a@b.c", "name": "A", "message": "hi"}}) + "\n")
    episodes = load_episodes(str(good), plan, 1)
    assert [e.agent for e in episodes] == ["lead"] * 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"agent": "weather", "input": {}}) + "\n")
    with pytest.raises(EpisodeSourceError, match="needs `agent`"):
        load_episodes(str(bad), plan, 1)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.pop("episodes"), "$"),
        (lambda d: d["episodes"].update(n=0), "$.episodes.n"),
        (lambda d: d["faults"]["model"].update(rate=1.5), "$.faults.model.rate"),
        (lambda d: d["faults"]["events"].append({"kind": "meteor", "at": 0.5}), "$.faults.events[3].kind"),
        (lambda d: d["faults"]["events"].append({"kind": "poison", "at": [0.9, 0.1]}), "$.faults.events[3].at"),
        (lambda d: d.update(workers=1), "$.workers"),
    ],
)
def test_an_invalid_plan_names_the_place(mutate, where):  # type: ignore[no-untyped-def]
    data = _plan()
    mutate(data)
    with pytest.raises(PlanError) as err:
        parse_plan(data, "plan.yaml")
    assert err.value.where == where
    assert str(err.value).startswith("plan.yaml: at ")


def test_every_shipped_plan_validates():
    for path in sorted(FAULTS.glob("*.yaml")):
        assert load_plan(path).name == path.stem


def test_cli_bad_input_exits_2_with_a_message(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({**_plan(), "episodes": {"n": -1, "concurrency": 1}}))
    assert main(["--faults", str(broken)]) == 2
    assert "broken.yaml: at $.episodes.n" in capsys.readouterr().err
    assert main(["--faults", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert main(["--faults", str(FAULTS / "ci.yaml"), "--episodes", str(tmp_path / "none.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["--faults", str(FAULTS / "ci.yaml"), "-n", "0"]) == 2
    with pytest.raises(SystemExit) as exit_:
        main(["--faults", str(FAULTS / "ci.yaml"), "--seed", "many"])
    assert exit_.value.code == 2


def test_cli_schedule_only_prints_the_same_hash_for_the_same_seed(capsys):  # type: ignore[no-untyped-def]
    outputs = []
    for _ in range(2):
        assert main(["--faults", str(FAULTS / "ci.yaml"), "--seed", "42", "--schedule-only"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1]
    assert outputs[0]["seed"] == 42 and outputs[0]["counts"]["worker_kill"] == 2
    assert main(["--faults", str(FAULTS / "ci.yaml"), "--seed", "43", "--schedule-only"]) == 0
    assert json.loads(capsys.readouterr().out)["schedule_hash"] != outputs[0]["schedule_hash"]


def test_the_episode_corpus_feeds_stress_with_its_resume_values():
    corpus = EVALS_DIR / "episodes" / "corpus.jsonl"
    if not corpus.exists():
        pytest.skip("no episode corpus in this tree")
    run = prepare(FAULTS / "smoke.yaml", episodes=str(corpus))
    assert {e.agent for e in run.episodes} <= {"order", "lead", "faq"}
    assert all(e.origin.startswith("file:") for e in run.episodes)
    assert any(e.resume for e in run.episodes)  # approved / denied orders carry the value they were resumed with
    assert run.schedule.hash == prepare(FAULTS / "smoke.yaml", episodes=str(corpus)).schedule.hash


def test_the_corpus_folder_and_episode_ids_are_sources_too(tmp_path: Path):
    plan = parse_plan(_plan(episodes={"n": 4, "concurrency": 1}))
    record = {"episode_id": "abc123", "agent": "lead", "input": {"email": "a@b.c", "name": "A", "message": "hi"}}
    other = {**record, "episode_id": "def456", "agent": "order", "input": {"order_id": "ORD-1001"}}
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in (record, other)) + "\n")
    from_dir = load_episodes(str(tmp_path), plan, 1)
    assert [e.agent for e in from_dir] == ["lead", "order", "lead", "order"]
    assert from_dir[1].origin == "file:def456"
    corpus = EVALS_DIR / "episodes" / "corpus.jsonl"
    if corpus.exists():
        first = json.loads(corpus.read_text().splitlines()[0])["episode_id"]
        by_id = load_episodes(first, plan, 1)
        assert {e.origin for e in by_id} == {f"file:{first}"}
    with pytest.raises(EpisodeSourceError, match="unknown episode ids"):
        load_episodes("nosuchepisode", plan, 1)
