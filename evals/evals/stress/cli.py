"""`python -m evals replay --mode stress` and `python -m evals.stress`: STRESS over a fault plan.

    --faults evals/faults/ci.yaml --seed 42 -n 200 -c 50 --episodes generator|golden|<dir>|<file>
    --schedule-only   print the schedule and its hash, start nothing

Exit codes: 0 every invariant held, 1 an invariant failed (each named, with the seed), 2 bad input or an error
(an invalid plan, unreadable episodes, a stack that would not start).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from evals.stress.engine import StressRun
from evals.stress.episodes import EpisodeSourceError, load_episodes
from evals.stress.plan import PlanError, load_plan
from evals.stress.report import REPORTS_DIR, StressReport

__all__ = ["build_parser", "main", "run_stress"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"stress: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m evals.stress", description="STRESS replay under a seeded fault plan")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The STRESS options, for a dispatcher that wants them on its own parser."""
    parser.add_argument("--faults", required=True, type=Path, help="fault plan (evals/faults/*.yaml)")
    parser.add_argument("--seed", type=int, default=None, help="schedule seed (default: the plan's, else 0)")
    parser.add_argument("-n", type=int, default=None, help="episodes (default: the plan's)")
    parser.add_argument("-c", "--concurrency", type=int, default=None, help="runs in flight (default: the plan's)")
    parser.add_argument("--episodes", default="generator", help="generator | golden | a golden folder | a file")
    parser.add_argument("--reports-dir", type=Path, default=REPORTS_DIR)
    parser.add_argument("--run-dir", type=Path, default=None, help="keep the processes' logs here")
    parser.add_argument("--schedule-only", action="store_true", help="print the schedule hash and exit")


def run_stress(
    faults: Path,
    *,
    seed: int | None = None,
    n: int | None = None,
    concurrency: int | None = None,
    episodes: str = "generator",
    run_dir: Path | None = None,
) -> StressReport:
    """Run STRESS and return its report (not written). Raises PlanError / EpisodeSourceError on bad input."""
    run = prepare(faults, seed=seed, n=n, concurrency=concurrency, episodes=episodes, run_dir=run_dir)
    return asyncio.run(run.execute())


def prepare(
    faults: Path,
    *,
    seed: int | None = None,
    n: int | None = None,
    concurrency: int | None = None,
    episodes: str = "generator",
    run_dir: Path | None = None,
) -> StressRun:
    plan = load_plan(faults)
    if (n is not None and n < 1) or (concurrency is not None and concurrency < 1):
        raise PlanError(str(faults), "$.episodes", "-n and -c must be at least 1")
    plan = plan.with_size(n, concurrency)
    chosen = seed if seed is not None else int(plan.data.get("seed", 0))
    if chosen < 0:
        raise PlanError(str(faults), "$.seed", "the seed must be >= 0")
    return StressRun(plan, chosen, load_episodes(episodes, plan, chosen), episodes, run_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_from_args(args)


def run_from_args(args: argparse.Namespace) -> int:
    try:
        run = prepare(
            args.faults,
            seed=args.seed,
            n=args.n,
            concurrency=args.concurrency,
            episodes=args.episodes,
            run_dir=args.run_dir,
        )
    except (PlanError, EpisodeSourceError) as exc:
        print(f"stress: error: {exc}", file=sys.stderr)
        return 2
    if args.schedule_only:
        print(
            json.dumps(
                {
                    "seed": run.seed,
                    "schedule_hash": run.schedule.hash,
                    "counts": run.schedule.counts(),
                    "events": [e.__dict__ for e in run.schedule.events],
                },
                sort_keys=True,
            )
        )
        return 0
    try:
        report = asyncio.run(run.execute())
    except Exception as exc:  # noqa: BLE001 - the stack or the run broke: exit 2 with the seed, not a traceback
        print(f"stress: error (seed={run.seed}): {exc!r}", file=sys.stderr)
        return 2
    path = report.write(args.reports_dir)
    print(report.summary())
    print(f"report: {path}")
    if not report.ok:
        for check in report.checks:
            if not check.ok:
                print(
                    f"  invariant failed: {check.name} (seed={run.seed}): {json.dumps(check.detail, default=str)[:800]}"
                )
        print(f"replay with: python -m evals.stress --faults {args.faults} --seed {run.seed}", file=sys.stderr)
        return 1
    return 0
