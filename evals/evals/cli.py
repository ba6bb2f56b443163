"""`python -m evals <command>`: gate, run, baseline, and the episode/replay tools of the same package.

    gate       run the golden tasks on a platform started here, judge, compare with evals/baseline.json, write
               evals/reports/gate-*.json|md, print the Markdown; exit 0 pass, 1 regression, 2 error
    run        run the golden tasks and print each result (no report, no baseline); exit 0 / 1 / 2 likewise
    baseline   --update: a gate run whose report becomes evals/baseline.json (refused when it errs or fails an
               absolute threshold, unless --force); without it, print the committed baseline's summary
    episodes   evals.episodes.cli (export the episode corpus)
    replay     evals.replay.cli (EXACT / PARAMETRIC / STRESS replay)
    stress     evals.stress.cli

Bad arguments are exit 2 with a message, as is a missing subcommand module.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from evals.gate.criteria import EXIT_ERROR
from evals.runner.agents import DEFAULT_MODEL, OVERRIDABLE

__all__ = ["main"]

DELEGATED = {
    "episodes": "evals.episodes.cli",
    "replay": "evals.replay.cli",
    "stress": "evals.stress.cli",
}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every bad input is one exit 2 with one message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not value:
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    if key not in OVERRIDABLE or key == "model_alias":
        allowed = ", ".join(k for k in OVERRIDABLE if k != "model_alias")
        raise argparse.ArgumentTypeError(f"cannot set {key!r}: one of {allowed} (the model is --model)")
    return key, value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"policy model alias the agents run (default {DEFAULT_MODEL})"
    )
    parser.add_argument("--set", dest="overrides", type=_override, action="append", default=[], metavar="KEY=VALUE",
                        help="override a pinned manifest field: prompt_version, graph_version")  # fmt: skip
    parser.add_argument("--agent", action="append", choices=["faq", "order", "lead"], default=[])
    parser.add_argument("--task", action="append", default=[], help="run only this task id (repeatable)")
    parser.add_argument("--concurrency", type=_positive_int, default=4)
    parser.add_argument("--no-judge", action="store_true", help="skip the judge (its criteria are skipped)")
    parser.add_argument("--golden-dir", type=Path, default=None)
    parser.add_argument("--keep-logs", type=Path, default=None, metavar="DIR", help="keep the services' logs in DIR")


def _parser() -> _Parser:
    parser = _Parser(prog="python -m evals", description="Golden-task evals and the CI gate (issue 16).")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    gate = sub.add_parser("gate", help="run, judge, compare, report; exit 0 pass, 1 regression, 2 error")
    _common(gate)
    gate.add_argument("--replay-summary", type=Path, default=None, help="EXACT replay summary JSON (divergences)")
    gate.add_argument("--baseline", type=Path, default=None, help="baseline report (default evals/baseline.json)")
    gate.add_argument("--reports-dir", type=Path, default=None)
    run = sub.add_parser("run", help="run the tasks and print each result")
    _common(run)
    baseline = sub.add_parser("baseline", help="show, or with --update replace, evals/baseline.json")
    _common(baseline)
    baseline.add_argument("--update", action="store_true")
    baseline.add_argument("--force", action="store_true", help="write even when an absolute threshold fails")
    for name in DELEGATED:
        sub.add_parser(name, help=f"{DELEGATED[name]} (arguments passed through)", add_help=False)
    return parser


def _delegate(name: str, argv: list[str]) -> int:
    module_name = DELEGATED[name]
    try:
        module = importlib.import_module(module_name)
        entry = module.main
    except (ImportError, AttributeError) as exc:
        print(f"python -m evals {name}: {module_name} is not available ({exc})", file=sys.stderr)
        return EXIT_ERROR
    try:
        return int(entry(argv) or 0)
    except SystemExit as exc:  # an argparse inside it: its code is the answer (None 0, a message 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in DELEGATED:
        return _delegate(args_list[0], args_list[1:])
    try:
        args = _parser().parse_args(args_list)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    if args.command is None:
        print("python -m evals: a command is needed: gate, run, baseline, episodes, replay, stress", file=sys.stderr)
        return EXIT_ERROR
    from evals.gate.commands import run_baseline, run_gate_command, run_tasks_command

    if args.command == "gate":
        return run_gate_command(args)
    if args.command == "run":
        return run_tasks_command(args)
    return run_baseline(args)
