"""What `python -m evals gate|run|baseline` do with their parsed arguments (evals.cli parses them)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from evals.gate.criteria import EXIT_ERROR, EXIT_PASS, EXIT_REGRESSION
from evals.gate.report import ReportError, strip_volatile
from evals.gate.run import BASELINE_FILE, GateOptions, load_baseline, run_gate, select_tasks
from evals.loader import TaskFileError, load_tasks
from evals.runner.runner import RunSettings, TaskResult
from evals.runner.session import JudgeOptions, evaluate_tasks
from evals.runner.stack import EvalStack

__all__ = ["run_baseline", "run_gate_command", "run_tasks_command"]


def _progress(result: TaskResult) -> None:
    state = "pass" if result.passed else ("ERROR" if result.error else "FAIL")
    judge = (result.judge or {}).get("score")
    said = f" judge {judge:.2f}" if judge is not None else ""
    print(f"[evals] {result.task_id}: {state} ({result.status}){said}", file=sys.stderr, flush=True)


def _options(args: argparse.Namespace, **extra: Any) -> GateOptions:
    options = GateOptions(
        model=args.model,
        overrides=dict(args.overrides),
        agents=list(args.agent),
        task_ids=list(args.task),
        settings=RunSettings(concurrency=args.concurrency),
        judge=JudgeOptions(enabled=not args.no_judge),
        stack=EvalStack(run_dir=args.keep_logs, keep_logs=args.keep_logs is not None),
        on_result=_progress,
        **extra,
    )
    if args.golden_dir is not None:
        options.golden_dir = args.golden_dir
    return options


def run_gate_command(args: argparse.Namespace) -> int:
    options = _options(args, replay_summary=args.replay_summary)
    if args.baseline is not None:
        options.baseline_file = args.baseline
    if args.reports_dir is not None:
        options.reports_dir = args.reports_dir
    gate = run_gate(options)
    print(gate.markdown)
    if gate.paths:
        print(f"[evals] report: {gate.paths[0]} and {gate.paths[1]}", file=sys.stderr)
    return gate.exit_code


def run_tasks_command(args: argparse.Namespace) -> int:
    options = _options(args)
    try:
        tasks = select_tasks(load_tasks(options.golden_dir, options.rubrics_dir), options.agents, options.task_ids)
    except (TaskFileError, ValueError) as exc:
        print(f"python -m evals run: {exc}", file=sys.stderr)
        return EXIT_ERROR
    outcome = evaluate_tasks(
        tasks,
        model=options.model,
        overrides=options.overrides,
        settings=options.settings,
        judge=options.judge,
        stack=options.stack,
        on_result=_progress,
    )
    if outcome.setup_error:
        print(f"python -m evals run: {outcome.setup_error}", file=sys.stderr)
        return EXIT_ERROR
    for result in outcome.results:
        print(json.dumps(result.as_dict(), sort_keys=True, default=str))
    passed = sum(result.passed for result in outcome.results)
    print(f"{passed}/{len(outcome.results)} tasks pass in {outcome.duration_s:.1f} s", file=sys.stderr)
    if any(result.error for result in outcome.results):
        return EXIT_ERROR
    return EXIT_PASS if passed == len(outcome.results) else EXIT_REGRESSION


def run_baseline(args: argparse.Namespace) -> int:
    if not args.update:
        try:
            baseline = load_baseline(BASELINE_FILE)
        except ReportError as exc:
            print(f"python -m evals baseline: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if baseline is None:
            print("python -m evals baseline: no evals/baseline.json yet; write it with --update", file=sys.stderr)
            return EXIT_ERROR
        print(json.dumps({k: baseline[k] for k in ("created_at", "model", "verdict", "summary")}, indent=2))
        return EXIT_PASS
    gate = run_gate(_options(args))
    print(gate.markdown)
    if gate.report is None or gate.exit_code == EXIT_ERROR:
        print("python -m evals baseline: the run erred; baseline left unchanged", file=sys.stderr)
        return EXIT_ERROR
    absolute = [c for c in gate.report["criteria"] if c["status"] == "fail" and c["id"] != "baseline_delta"]
    if absolute and not args.force:
        names = ", ".join(c["id"] for c in absolute)
        print(f"python -m evals baseline: {names} fail; baseline left unchanged (--force writes it)", file=sys.stderr)
        return EXIT_REGRESSION
    kept = strip_volatile(gate.report)
    BASELINE_FILE.write_text(json.dumps(kept, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    print(f"[evals] wrote {BASELINE_FILE}", file=sys.stderr)
    return EXIT_PASS
