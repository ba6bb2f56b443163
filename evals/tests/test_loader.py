"""Every shipped task file and rubric validates; a malformed one is rejected naming the file and the place."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from evals.loader import RUBRICS_DIR, SCHEMAS_DIR, TaskFileError, load_rubric, load_task, load_tasks
from orchestrator.agents.manifest import FAQ_INPUT, LEAD_INPUT, ORDER_INPUT
from provider_sim.rulemodels.judge import Criterion

SHIPPED = load_tasks()
BY_ID = {task.id: task for task in SHIPPED}


def test_every_agent_has_at_least_ten_tasks_some_critical():
    assert set(Counter(task.agent for task in SHIPPED)) == {"faq", "order", "lead"}
    assert min(Counter(task.agent for task in SHIPPED).values()) >= 10
    assert {task.agent for task in SHIPPED if task.critical} == {"faq", "order", "lead"}


def test_the_required_scenarios_are_shipped():
    held = BY_ID["order-over-threshold-interrupted"].data
    assert {"type": "jsonpath", "path": "$.status", "op": "eq", "value": "interrupted"} in held["assert"]
    saga = next(a for a in BY_ID["order-undeliverable-compensated"].data["assert"] if a["type"] == "saga")
    assert saga["compensations"] == ["payments.refund", "inventory.release"]
    dedupe = BY_ID["lead-duplicate-dedupe"].data
    assert dedupe["fixtures"]["toolbox"]["leads"][0]["email"] == dedupe["input"]["run_input"]["email"]
    cites = {"type": "jsonpath", "path": "$.output.reply.citations[*].filename", "op": "contains"}
    assert {**cites, "value": "returns-policy.pdf"} in BY_ID["faq-refund-timing"].data["assert"]


def test_task_inputs_are_what_the_orchestrator_accepts():
    schema = json.loads((SCHEMAS_DIR / "golden_task.schema.json").read_text())
    # The schema's copies of the manifests' input schemas must not drift from the orchestrator's.
    for name, manifest_schema in (("faq_input", FAQ_INPUT), ("order_input", ORDER_INPUT), ("lead_input", LEAD_INPUT)):
        copy = {k: v for k, v in schema["$defs"][name].items() if k != "$comment"}
        assert copy == {k: v for k, v in manifest_schema.items() if k != "$schema"}, name


def test_every_rubric_parses_as_the_simulator_judge_reads_it():
    criteria = TypeAdapter(list[Criterion])
    for path in sorted(RUBRICS_DIR.glob("*.yaml")):
        rubric = load_rubric(path.stem)
        assert criteria.validate_python(rubric["criteria"]), path.name
    used = {task.data["judge"]["rubric"] for task in SHIPPED if "judge" in task.data}
    assert used == {path.stem for path in RUBRICS_DIR.glob("*.yaml")}


def _write_task(root: Path, data: dict[str, Any], agent: str = "order", name: str | None = None) -> Path:
    folder = root / "golden" / agent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _valid() -> dict[str, Any]:
    return json.loads(json.dumps(BY_ID["order-fulfil-small"].data))


def _rejected(path: Path) -> TaskFileError:
    with pytest.raises(TaskFileError) as caught:
        load_task(path)
    assert str(path) in str(caught.value) or path.name in str(caught.value)
    return caught.value


def test_a_valid_copy_loads(tmp_path):
    assert load_task(_write_task(tmp_path, _valid())).id == "order-fulfil-small"


def test_an_unknown_jsonpath_op_names_the_file_and_the_assertion(tmp_path):
    data = _valid()
    data["assert"][2]["op"] = "equals"
    error = _rejected(_write_task(tmp_path, data))
    assert error.path.name == "order-fulfil-small.yaml"
    assert error.where == "$.assert[2].op"
    assert "'equals' is not one of" in error.detail


@pytest.mark.parametrize(
    ("change", "where", "detail"),
    [
        (lambda d: d.pop("critical"), "$", "'critical' is a required property"),
        (lambda d: d["input"]["run_input"].pop("order_id"), "$.input.run_input", "'order_id' is a required property"),
        (
            lambda d: d["input"]["run_input"].update(carrier="pigeon"),
            "$.input.run_input.carrier",
            "'pigeon' is not one of",
        ),
        (lambda d: d["assert"].append({"type": "budget"}), "$.assert[13]", "does not have enough properties"),
        (
            lambda d: d["assert"].append({"type": "trajectory", "mode": "fuzzy", "steps": []}),
            "$.assert[13].mode",
            "'fuzzy'",
        ),
        (
            lambda d: d["assert"].append({"type": "jsonpath", "path": "$.a[?@.b]", "op": "exists"}),
            "$.assert[13].path",
            "unsupported",
        ),
        (
            lambda d: d["assert"].append({"type": "jsonpath", "path": "$.s", "op": "regex", "value": "("}),
            "$.assert[13].value",
            "regex",
        ),
        (lambda d: d["judge"].update(min_score=1.5), "$.judge.min_score", "1.5 is greater than the maximum of 1"),
        (lambda d: d["judge"].update(rubric="nope@v1"), "$.judge.rubric", "rubric 'nope@v1' does not exist"),
        (lambda d: d.update(id="other-id"), "$.id", "must equal the file name"),
        (lambda d: d.update(fixtures={"knowledge_base": ["docs/none.md"]}), "$.fixtures.knowledge_base[0]", "no file"),
    ],
)
def test_malformed_task_files_are_rejected(tmp_path, change, where, detail):
    data = _valid()
    change(data)
    error = _rejected(_write_task(tmp_path, data, name="order-fulfil-small"))
    assert error.where == where
    assert detail in error.detail
    assert str(error).startswith(f"{error.path}: at {where}: ")


def test_faq_tasks_need_a_knowledge_base(tmp_path):
    data = json.loads(json.dumps(BY_ID["faq-refund-timing"].data))
    data["fixtures"] = {}
    error = _rejected(_write_task(tmp_path, data, agent="faq"))
    assert (error.where, error.detail) == ("$.fixtures", "'knowledge_base' is a required property")


def test_a_task_under_another_agent_folder_is_rejected(tmp_path):
    error = _rejected(_write_task(tmp_path, _valid(), agent="lead"))
    assert error.where == "$.agent"


def test_yaml_that_does_not_parse_names_the_line(tmp_path):
    path = tmp_path / "golden" / "order" / "broken.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("id: broken\nagent: [order\n")
    error = _rejected(path)
    assert error.where == "line 3" and "not valid YAML" in error.detail


def test_an_invalid_rubric_names_the_rubric_file(tmp_path):
    (tmp_path / "bad@v1.yaml").write_text(
        "name: bad\nversion: 1\nanswer: text\ncriteria:\n  - {id: a, check: shouts}\n"
    )
    (tmp_path / "renamed@v2.yaml").write_text((RUBRICS_DIR / "faq-refunds@v1.yaml").read_text())
    with pytest.raises(TaskFileError) as caught:
        load_rubric("bad@v1", tmp_path)
    assert caught.value.path.name == "bad@v1.yaml" and caught.value.where == "$.criteria[0].check"
    with pytest.raises(TaskFileError, match="says faq-refunds@v1, the file name renamed@v2"):
        load_rubric("renamed@v2", tmp_path)
