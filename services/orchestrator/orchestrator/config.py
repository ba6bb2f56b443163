"""Orchestrator settings (env prefix `ORCH_`); infrastructure URLs (`DATABASE_URL`, `NATS_URL`) are shared.

One class for the three processes (API, worker, prune job): each reads what it uses. The service credential is
the platform-admin key named "orchestrator" (`ORCH_SERVICE_KEY`, or the file holding it, `ORCH_SERVICE_KEY_FILE`,
a secret mounted by the platform): the worker calls the gateway and ingestion with it for a run's tenant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from aiaas.settings import MetricsPort, ServiceSettings

__all__ = ["OrchestratorSettings"]


class OrchestratorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORCH_", env_file=".env", extra="ignore", populate_by_name=True)

    service_name: str = "orchestrator"
    port: int = 8096
    metrics_port: MetricsPort = 9130
    tracing: bool = True
    auth_cache_ttl_s: float = 5.0
    # The largest request body (413 above): a run's input or a resume value.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    publish_timeout_s: float = Field(2.0, gt=0)

    # Where the worker's calls go, and the credential it calls with (gateway, ingestion).
    gateway_url: str = "http://127.0.0.1:8080"
    service_key: str = ""
    # Or the file holding it; read once at start, the key itself wins when both are set. A named file that cannot
    # be read stops the start.
    service_key_file: str = ""
    toolbox_url: str = "http://127.0.0.1:8094"
    ingestion_url: str = "http://127.0.0.1:8095"

    # The worker: runs in flight at once (= its checkpoint pool's connections: one per run), its metrics listener.
    max_inflight: int = Field(16, ge=1, le=256)
    worker_metrics_port: MetricsPort = 9131
    # An interrupted run waits this long for `resume`, then expires (its effects compensated).
    hitl_expiry_s: float = Field(86400.0, gt=0)
    # How often the worker's sweeper looks for interrupted runs past their expiry.
    expiry_sweep_s: float = Field(5.0, gt=0)
    # A compensation is retried until this age, then `saga.compensation.failed` goes to the DLQ.
    comp_max_age_s: float = Field(3600.0, gt=0)
    # Checkpoints of runs finished longer ago than this are pruned (`python -m orchestrator prune`).
    ckpt_retention_days: int = Field(30, ge=1)
    # Episode records (runs with their steps and ledger rows) of runs finished longer ago than this are deleted by
    # the same job; the evals replay and export them until then.
    episode_retention_days: int = Field(90, ge=1)
    # FAQ runs' checkpoint durability: "sync" after every step, "exit" only when the run stops (faster).
    faq_durability: Literal["sync", "exit"] = "sync"
    # One tool call's deadline, its retries included.
    tool_deadline_s: float = Field(30.0, gt=0)
    # Benchmark baseline only (issue 16 "recording cost"): false leaves response bodies out of orch_steps rows, so
    # such episodes cannot be replayed. Production keeps it true.
    record_bodies: bool = True

    # The API: the longest `wait` a create may ask for (a larger one is cut to this), how often a waiting create and
    # an event stream read the run, and the comment an idle event stream sends to keep proxies from closing it.
    wait_max_s: float = Field(60.0, ge=0)
    wait_poll_s: float = Field(0.1, gt=0)
    sse_poll_s: float = Field(0.2, gt=0)
    sse_heartbeat_s: float = Field(15.0, gt=0)

    # Test-only crash points (orchestrator/engine): honoured only with ORCH_TEST_HOOKS=1.
    test_hooks: bool = False
    test_crash_at: str = ""

    @model_validator(mode="after")
    def _service_key_from_file(self) -> OrchestratorSettings:
        if self.service_key or not self.service_key_file:
            return self
        path = Path(self.service_key_file)
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"ORCH_SERVICE_KEY_FILE {path} cannot be read: {exc.strerror}") from None
        if not key:
            raise ValueError(f"ORCH_SERVICE_KEY_FILE {path} is empty")
        self.service_key = key
        return self
