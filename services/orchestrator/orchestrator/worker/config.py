"""The worker's settings: the orchestrator's (`ORCH_*`) plus the cross-tenant role and the worker's own knobs.

The worker holds two database roles (aiaas.roles): `DATABASE_URL` (app_runtime) for everything a run does, in
its tenant's transactions and on its tenant-bound checkpoint connection, and `ADMIN_DATABASE_URL`
(platform_admin) for the two scans that must cross tenants and serve none of them: the expiry sweeper (which
interrupted runs, of any tenant, are past `interrupt_expires_at`) and the retention job (which tenants have
finished runs older than `ORCH_CKPT_RETENTION_DAYS`). Neither reads a run's content, and nothing tenant-facing
runs in this process.
"""

from __future__ import annotations

from pydantic import Field

from aiaas.settings import AdminDatabaseSettings
from orchestrator.config import OrchestratorSettings

__all__ = ["WorkerSettings"]


class WorkerSettings(AdminDatabaseSettings, OrchestratorSettings):
    """`python -m orchestrator work` and `prune` (env prefix ORCH_, as the API's)."""

    service_name: str = "orchestrator-worker"
    # In-progress acks: at least this often while a run executes (the consumer's ack_wait is 60 s).
    heartbeat_s: float = Field(10.0, gt=0, le=50)
    # A run leased by another worker (RunLeased): nak'd with this delay, then taken again.
    leased_retry_s: float = Field(2.0, gt=0, le=60)
    # An unexpected error (a bug, a database outage): nak'd with min(cap, base * 2^(deliveries-1)); after
    # `max_deliveries` deliveries the message goes to the DLQ and the run is marked failed (code worker_error).
    error_retry_base_s: float = Field(1.0, gt=0)
    error_retry_cap_s: float = Field(30.0, gt=0)
    max_deliveries: int = Field(5, ge=1)
    # The expiry sweeper (every ORCH_EXPIRY_SWEEP_S): runs at most per scan.
    expiry_batch: int = Field(500, ge=1, le=10_000)
    # SIGTERM: runs in flight get this long to reach a checkpoint-safe end, then are cancelled (redelivered).
    drain_s: float = Field(25.0, ge=0)
    # The retention job: finished runs pruned per tenant per batch.
    prune_batch: int = Field(500, ge=1, le=10_000)
