"""The worker's Prometheus series: runs by agent and status, runs in flight, the consumer's lag, sweeps, prunes.

No tenant label (aiaas.observability.metrics): `agent` is a manifest name, `status` one of the run statuses.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "RUNS_TOTAL",
    "RUNS_IN_FLIGHT",
    "CONSUMER_PENDING",
    "RUNS_EXPIRED",
    "RUNS_PRUNED",
    "RUNS_REDELIVERED",
    "DELIVERY_SECONDS",
]

RUNS_TOTAL = Counter(
    "orch_runs_total", "Run deliveries that ended in a status (terminal or interrupted)", ["agent", "status"]
)
RUNS_IN_FLIGHT = Gauge("orch_runs_in_flight", "Runs this worker is executing now")
CONSUMER_PENDING = Gauge(
    "orch_consumer_pending", "Messages of the orchestrator-runs consumer not yet acked (pending + in flight): lag"
)
RUNS_REDELIVERED = Counter(
    "orch_runs_redelivered_total", "Deliveries of a run message after the first (a crash, a lease, a NAT outage)"
)
RUNS_EXPIRED = Counter("orch_runs_expiry_requested_total", "Expiry requests the sweeper published")
RUNS_PRUNED = Counter("orch_runs_pruned_total", "Finished runs whose checkpoints the retention job deleted")

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# One delivery, by phase: `load` (row read, stale check, marked running), `execute` (Engine.execute: graph,
# checkpoints, tools, model calls), `persist` (outcome + outbox committed, event published), `total` (received ->
# answered, the ack included).
DELIVERY_SECONDS = Histogram(
    "orch_delivery_seconds", "Time a run message spends in the worker, by phase", ["phase"], buckets=_BUCKETS
)
