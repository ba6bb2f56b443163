"""Every assertion type passes and fails on hand-built observations, with the failure's values checked."""

from __future__ import annotations

from evals.assertions import evaluate
from evals.observation import Failure, Observation

from .factories import call, fulfilled_order, task, undeliverable_order


def _one(failures: list[Failure]) -> Failure:
    assert len(failures) == 1, failures
    return failures[0]


def test_json_schema_passes_and_names_the_failing_path():
    schema = {"type": "object", "required": ["reply"], "properties": {"reply": {"type": "object"}}}
    assert evaluate(task({"type": "json_schema", "schema": schema}), fulfilled_order()) == []

    bad = {"type": "object", "properties": {"reply": {"properties": {"amount_minor": {"type": "string"}}}}}
    failure = _one(evaluate(task({"type": "json_schema", "path": "$.output", "schema": bad}), fulfilled_order()))
    assert (failure.task_id, failure.index, failure.type) == ("t-1", 0, "json_schema")
    assert failure.path == "$.output['reply']['amount_minor']"
    assert failure.expected == {"type": "string"}
    assert failure.actual == 5198


def test_json_schema_on_a_missing_value():
    failure = _one(evaluate(task({"type": "json_schema", "path": "$.output.nope", "schema": {}}), fulfilled_order()))
    assert (failure.path, failure.actual) == ("$.output.nope", "<no value>")


def test_jsonpath_ops_that_hold():
    holds = [
        ("$.status", "eq", "succeeded"),
        ("$.status", "ne", "failed"),
        ("$.status", "in", ["succeeded", "compensated"]),
        ("$.output.text", "contains", "tracking number"),
        ("$.output.reply.citations", "contains", "b.md"),
        ("$.output.actions[*].tool", "contains", "payments.charge"),
        ("$.output.text", "regex", r"tracking number TRK\d\.$"),
        ("$.output.reply.amount_minor", "gte", 5198),
        ("$.output.reply.amount_minor", "lte", 6000),
        ("$..approved", "eq", True),
        ("$.error", "eq", None),
    ]
    asserts = [{"type": "jsonpath", "path": p, "op": op, "value": v} for p, op, v in holds]
    asserts += [{"type": "jsonpath", "path": "$.output.reply.order_id", "op": "exists"}]
    asserts += [{"type": "jsonpath", "path": "$.output.reply.refund", "op": "exists", "value": False}]
    assert evaluate(task(*asserts), fulfilled_order()) == []


def test_jsonpath_ops_that_fail_report_expected_and_actual():
    fails = [
        ("$.status", "eq", "failed", "eq 'failed'", "succeeded"),
        ("$.status", "ne", "succeeded", "ne 'succeeded'", "succeeded"),
        ("$.status", "in", ["failed"], "in ['failed']", "succeeded"),
        ("$.output.reply.citations", "contains", "c.md", "contains 'c.md'", ["a.md", "b.md"]),
        ("$.output.text", "regex", "^Refund", "regex '^Refund'", fulfilled_order().output["text"]),  # type: ignore[index]
        ("$.output.reply.amount_minor", "gte", 6000, "gte 6000", 5198),
        ("$.output.reply.amount_minor", "lte", 100, "lte 100", 5198),
        ("$.output.reply.order_id", "gte", 1, "gte 1", "ORD-1"),
        ("$.output.reply.missing", "eq", 1, "eq 1", "<no value>"),
    ]
    asserts = [{"type": "jsonpath", "path": p, "op": op, "value": v} for p, op, v, _, _ in fails]
    failures = evaluate(task(*asserts, task_id="order-x"), fulfilled_order())
    assert [(f.index, f.path, f.expected, f.actual) for f in failures] == [
        (i, p, expected, actual) for i, (p, _, _, expected, actual) in enumerate(fails)
    ]
    assert str(failures[0]) == "task order-x assert[0] jsonpath at $.status: expected \"eq 'failed'\", got 'succeeded'"


def test_jsonpath_exists_fails_both_ways():
    present = {"type": "jsonpath", "path": "$.output.reply.order_id", "op": "exists", "value": False}
    absent = {"type": "jsonpath", "path": "$.interrupt.payload", "op": "exists"}
    failures = evaluate(task(present, absent), fulfilled_order())
    assert [(f.path, f.expected, f.actual) for f in failures] == [
        ("$.output.reply.order_id", "exists: False", "ORD-1"),
        ("$.interrupt.payload", "exists: True", "<no value>"),
    ]


def test_trajectory_modes_hold_with_partial_args():
    steps_in_order = [
        "orders.get",
        {"tool": "inventory.reserve", "args": {"order_id": "ORD-1"}},
        {"tool": "payments.charge", "args": {"amount_minor": 5198}},
        "shipments.create",
        {"tool": "notify.send", "args": {"to": "ada@example.com"}},
    ]
    shuffled = [steps_in_order[i] for i in (4, 2, 0, 3, 1)]
    extra = [*steps_in_order, "payments.refund"]
    asserts = [
        {"type": "trajectory", "mode": "strict", "steps": steps_in_order},
        {"type": "trajectory", "mode": "unordered", "steps": shuffled},
        {"type": "trajectory", "mode": "subset", "steps": extra},
        {"type": "trajectory", "mode": "superset", "steps": ["payments.charge", "orders.get"]},
    ]
    assert evaluate(task(*asserts), fulfilled_order()) == []


def test_trajectory_failures_show_the_calls():
    wrong_args = [{"tool": "orders.get", "args": {"order_id": "ORD-2"}}]
    asserts = [
        {"type": "trajectory", "mode": "strict", "steps": ["orders.get", "payments.charge"]},
        {"type": "trajectory", "mode": "unordered", "steps": ["notify.send"]},
        {"type": "trajectory", "mode": "subset", "steps": ["orders.get"]},
        {"type": "trajectory", "mode": "superset", "steps": wrong_args},
    ]
    failures = evaluate(task(*asserts), fulfilled_order())
    assert [f.index for f in failures] == [0, 1, 2, 3]
    assert failures[0].expected == "strict ['orders.get', 'payments.charge']"
    assert failures[3].expected == "superset ['orders.get']"
    assert [c["tool"] for c in failures[0].actual] == [
        "orders.get", "inventory.reserve", "payments.charge", "shipments.create", "notify.send",
    ]  # fmt: skip
    assert failures[0].path == "trajectory"


def test_trajectory_leaves_compensations_out_unless_asked():
    plain = ["orders.get", "inventory.reserve", "payments.charge", "shipments.create"]
    with_comps = [*plain, "payments.refund", "inventory.release"]
    ok = [
        {"type": "trajectory", "mode": "strict", "steps": plain},
        {"type": "trajectory", "mode": "strict", "steps": with_comps, "include_compensations": True},
    ]
    assert evaluate(task(*ok), undeliverable_order()) == []
    failure = _one(evaluate(task({"type": "trajectory", "mode": "strict", "steps": with_comps}), undeliverable_order()))
    assert len(failure.actual) == 4


def test_events_counts_and_per_tool():
    ok = {
        "type": "events",
        "counts": {"tool.call.requested": 6, "tool.call.succeeded": 5, "tool.call.failed": 1},
        "per_tool": {"shipments.create": {"tool.call.failed": 1, "tool.call.succeeded": 0}},
    }
    assert evaluate(task(ok), undeliverable_order()) == []
    bad = {
        "type": "events",
        "counts": {"tool.call.failed": 0},
        "per_tool": {"notify.send": {"tool.call.requested": 1}},
    }
    failures = evaluate(task(bad), undeliverable_order())
    assert [(f.type, f.path, f.expected, f.actual) for f in failures] == [
        ("events", "events['tool.call.failed']", 0, 1),
        ("events", "events.per_tool['notify.send']['tool.call.requested']", 1, 0),
    ]


def test_saga_reads_status_and_compensations_from_the_ledger():
    ok = {
        "type": "saga",
        "status": "compensated",
        "compensated": ["payments.charge", "inventory.reserve"],
        "compensations": ["payments.refund", "inventory.release"],
    }
    assert evaluate(task(ok), undeliverable_order()) == []
    bad = {"type": "saga", "status": "succeeded", "compensated": ["inventory.reserve"], "compensations": []}
    failures = evaluate(task(bad), undeliverable_order())
    assert [(f.path, f.expected, f.actual) for f in failures] == [
        ("saga.status", "succeeded", "compensated"),
        ("saga.compensated", ["inventory.reserve"], ["payments.charge", "inventory.reserve"]),
        ("saga.compensations", [], ["payments.refund", "inventory.release"]),
    ]


def test_saga_ignores_a_failed_compensation():
    observation = undeliverable_order()
    observation.tool_calls[-1]["status"] = "failed"
    failure = _one(
        evaluate(task({"type": "saga", "compensations": ["payments.refund", "inventory.release"]}), observation)
    )
    assert failure.actual == ["payments.refund"]


def test_budget_within_and_over():
    within = {"type": "budget", "llm_calls": 2, "tool_calls": 5, "tokens": 500, "latency_ms": 250}
    assert evaluate(task(within), fulfilled_order()) == []
    over = {"type": "budget", "llm_calls": 1, "tool_calls": 4, "tokens": 499, "latency_ms": 100}
    failures = evaluate(task(over), fulfilled_order())
    assert [(f.path, f.expected, f.actual) for f in failures] == [
        ("budget.llm_calls", "<= 1", 2),
        ("budget.tool_calls", "<= 4", 5),
        ("budget.tokens", "<= 499", 500),
        ("budget.latency_ms", "<= 100", 250.0),
    ]


def test_budget_latency_falls_back_to_the_run_times_then_the_steps():
    timed = Observation(
        status="succeeded", started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:00:01.5+00:00"
    )
    failure = _one(evaluate(task({"type": "budget", "latency_ms": 1000}), timed))
    assert failure.actual == 1500.0
    stepped = Observation(
        status="succeeded", steps=[{"kind": "llm", "latency_ms": 700.0}, {"kind": "tool", "latency_ms": 400}]
    )
    assert _one(evaluate(task({"type": "budget", "latency_ms": 1000}), stepped)).actual == 1100.0
    unknown = Observation(status="succeeded", tool_calls=[call("orders.get")])
    assert _one(evaluate(task({"type": "budget", "latency_ms": 1000}), unknown)).actual == "<no value>"


def test_not_contains_case_insensitive_by_default():
    assert evaluate(task({"type": "not_contains", "values": ["declined", "refund"]}), fulfilled_order()) == []
    failures = evaluate(task({"type": "not_contains", "values": ["TRACKING", "paid", "refund"]}), fulfilled_order())
    assert [(f.path, f.expected) for f in failures] == [
        ("$.output.text", "not containing 'TRACKING'"),
        ("$.output.text", "not containing 'paid'"),
    ]
    assert failures[0].actual.startswith("Order ORD-1 is paid")


def test_not_contains_case_sensitive_and_on_json():
    sensitive = {"type": "not_contains", "values": ["TRACKING"], "case_sensitive": True}
    assert evaluate(task(sensitive), fulfilled_order()) == []
    on_json = {"type": "not_contains", "path": "$.output.actions", "values": ["shipments.create"]}
    failure = _one(evaluate(task(on_json), fulfilled_order()))
    assert failure.path == "$.output.actions" and "shipments.create" in failure.actual


def test_failures_keep_assertion_order_across_types():
    failures = evaluate(
        task(
            {"type": "jsonpath", "path": "$.status", "op": "eq", "value": "succeeded"},
            {"type": "saga", "status": "succeeded"},
            {"type": "not_contains", "path": "$.error.code", "values": ["undeliverable"]},
            task_id="order-undeliverable",
        ),
        undeliverable_order(),
    )
    assert [(f.task_id, f.index, f.type) for f in failures] == [
        ("order-undeliverable", 0, "jsonpath"),
        ("order-undeliverable", 1, "saga"),
        ("order-undeliverable", 2, "not_contains"),
    ]
    assert failures[0].as_dict()["actual"] == "compensated"


def test_observation_from_api_bodies():
    run = {
        "status": "interrupted",
        "output": None,
        "error": None,
        "interrupt": {"node": "approve", "payload": {"a": 1}},
    }
    history = {"steps": [{"kind": "llm", "tokens_in": 3, "tokens_out": 4}], "tool_calls": [call("orders.get")]}
    observation = Observation.from_api(run, history, [], latency_ms=12.0)
    assert observation.document() == {
        "status": "interrupted",
        "output": None,
        "error": None,
        "interrupt": run["interrupt"],
    }
    assert (observation.llm_calls(), observation.tokens(), observation.run_latency_ms()) == (1, 7, 12.0)
