"""`python -m orchestrator [serve] [--host H] [--port P]` runs the orchestrator API (`/v1/orchestrator`, port 8096);
`python -m orchestrator work` the JetStream worker (consumer `orchestrator-runs`: one message = one start, resume,
cancel or expiry of a run; orchestrator/worker); `python -m orchestrator prune [--days N]` the retention job (the
checkpoints of runs finished more than N days ago, default ORCH_CKPT_RETENTION_DAYS).

The worker and the job are imported only when asked for, so the API starts without them (and without LangGraph
loaded).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from aiaas.serve import Command, run_service
from orchestrator.config import OrchestratorSettings

__all__ = ["main", "WORK", "PRUNE"]


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    """`module.function(args)`, imported when the command runs."""

    def run(args: argparse.Namespace) -> int:
        code: int = getattr(importlib.import_module(module), function)(args)
        return code

    return run


def _prune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=None, help="retention in days (default: ORCH_CKPT_RETENTION_DAYS)")
    parser.add_argument(
        "--episode-days",
        type=int,
        default=None,
        help="episode records' retention in days (default: ORCH_EPISODE_RETENTION_DAYS)",
    )


WORK = Command(
    "work",
    "take runs from JetStream (consumer orchestrator-runs) and execute them",
    _lazy("orchestrator.worker", "work"),
)
PRUNE = Command(
    "prune",
    "delete the checkpoints, then the episode records, of runs finished longer ago than their retentions",
    _lazy("orchestrator.worker", "prune"),
    _prune_arguments,
)


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service(
        "python -m orchestrator",
        "orchestrator.app:create_app",
        port=OrchestratorSettings().port,
        commands=[WORK, PRUNE],
        argv=argv,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
