"""The orchestrator's worker: `python -m orchestrator work` (consumer `orchestrator-runs` + expiry sweeper) and
`python -m orchestrator prune` (checkpoint and episode-record retention).

- consumer.py: the durable pull consumer, up to ORCH_MAX_INFLIGHT runs at once, in-progress acks, nak, DLQ;
- runs.py: one delivery = one `Engine.execute`, the outcome and its event in one transaction;
- sweeper.py: interrupted runs past their expiry -> `orch.run.requested` reason expire;
- prune.py: checkpoints of runs finished more than ORCH_CKPT_RETENTION_DAYS ago, their episode records after
  ORCH_EPISODE_RETENTION_DAYS;
- process.py: the two processes' wiring (imported only when one of them runs).
"""

from __future__ import annotations

import argparse

__all__ = ["work", "prune"]


def work(args: argparse.Namespace) -> int:
    from orchestrator.worker.process import work as run_work

    code: int = run_work(args)
    return code


def prune(args: argparse.Namespace) -> int:
    from orchestrator.worker.process import prune as run_prune

    code: int = run_prune(args)
    return code
