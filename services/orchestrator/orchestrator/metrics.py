"""The orchestrator's Prometheus metrics: the API's on `ORCH_METRICS_PORT`, the worker's on `ORCH_WORKER_METRICS_PORT`.

No tenant label (the platform rule, tests/test_metrics_listeners.py); labels hold agent names (the registry's), run
statuses and request reasons, never request input.
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["RUNS_CREATED", "RUN_REQUESTS", "RUN_REQUESTS_PUBLISHED"]

RUNS_CREATED = Counter("orchestrator_runs_created_total", "Runs created through the API, by agent", ["agent"])
RUN_REQUESTS = Counter(
    "orchestrator_run_requests_total", "Resumes and cancels the API accepted, by agent and reason", ["agent", "reason"]
)
RUN_REQUESTS_PUBLISHED = Counter(
    "orchestrator_run_requests_published_total",
    "orch.run.requested events the API published right after commit (failed: the outbox relay delivers them)",
    ["reason", "result"],
)
