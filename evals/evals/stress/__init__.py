"""STRESS replay (issue 16 §6): N episodes through the real orchestrator, NATS and Postgres under a seeded fault
plan (`evals/faults/*.yaml`), then the invariants of acceptance 7.

plan.py (the plan and its schema), episodes.py (where inputs come from), schedule.py (the pure, hashed schedule),
stack.py (the processes), injector.py (faults through the services' control APIs), observe.py (statuses, gauges,
RSS), checks.py (invariants), engine.py (one run), report.py, cli.py (`main`, `run_stress`).
"""

from evals.stress.cli import main, run_stress

__all__ = ["main", "run_stress"]
