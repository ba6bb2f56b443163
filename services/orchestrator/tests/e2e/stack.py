"""The orchestrator's whole path as real processes on a private NATS (the e2e tests stop and restart it):
provider simulator, gateway (+ usage writer, outbox relay), toolbox, ingestion, orchestrator API and worker.

A private NATS because the ORCH stream is a work queue with one durable consumer: a worker of another test session
on the shared NATS would take these tests' runs (and call its own toolbox). Every process gets the DSNs of its
roles only (aiaas.roles); the worker holds app_runtime and platform_admin (its sweeper crosses tenants).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from aiaas import clock
from aiaas_testing import AdminKey, InfraUrls, NatsServer, ServiceProcess, free_port

__all__ = ["E2EStack", "PRICE_IN", "PRICE_OUT"]

PRICE_IN, PRICE_OUT = "0.5", "1.5"
_DSNS = ("DATABASE_URL", "ADMIN_DATABASE_URL", "MIGRATION_DATABASE_URL", "PG_SUPERUSER_URL")


@dataclass
class E2EStack:
    run_dir: Path
    infra: InfraUrls
    nats: NatsServer
    service_key: AdminKey
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    worker_overrides: dict[str, str] = field(default_factory=dict)

    # --- environment -------------------------------------------------------------------------------------------
    def env(self, *, admin: bool = False, **extra: str) -> dict[str, str]:
        base = {key: value for key, value in os.environ.items() if key not in _DSNS}
        base.update(
            {
                "DATABASE_URL": self.infra.database_url,
                "NATS_URL": self.nats.url,
                "REDIS_URL": self.infra.redis_url,
                "LOG_LEVEL": "WARNING",
                "OPENAI_API_KEY": "",
                "ANTHROPIC_API_KEY": "",
                clock.OFFSET_ENV: repr(clock.offset_s()),
            }
        )
        if admin:
            base["ADMIN_DATABASE_URL"] = self.infra.admin_database_url
        base.update(extra)
        return base

    def start(self, name: str, args: list[str], env: dict[str, str], *, ready_url: str | None = None) -> None:
        self.procs[name] = ServiceProcess(
            args, env=env, log_path=self.run_dir / f"{name}.log", ready_url=ready_url, inherit_env=False
        ).start()

    def http(self, name: str, module: str, env: dict[str, str], ready_path: str = "/health/ready") -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self.start(name, ["-m", module, "--host", "127.0.0.1", "--port", str(port)], env, ready_url=url + ready_path)
        self.urls[name] = url
        return url

    # --- the platform --------------------------------------------------------------------------------------------
    def start_platform(self) -> None:
        sim = self.http("provider-sim", "provider_sim", self.env(), ready_path="/health")
        models = self.run_dir / "models.yaml"
        deployment = {
            "provider": "openai",
            "base_url": f"{sim}/v1",
            "input_usd_per_1k": PRICE_IN,
            "output_usd_per_1k": PRICE_OUT,
        }
        aliases = [
            {"name": "gpt-4o-mini", "deployments": [{"name": "mini", "model": "sim-mini", **deployment}]},
            {"name": "gpt-4o", "deployments": [{"name": "large", "model": "sim-large", **deployment}]},
        ]
        models.write_text(yaml.safe_dump({"aliases": aliases}))
        names = self.service_key.name
        gateway_env = {
            "GATEWAY_MODELS_FILE": str(models),
            "GATEWAY_PROVIDER_SIM_URL": sim,
            "GATEWAY_SERVICE_KEY_NAMES": names,
            "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
            "GATEWAY_OUTBOX_RELAY_METRICS_PORT": "0",
        }
        self.http("gateway", "gateway", self.env(**gateway_env))
        self.start("usage-writer", ["-m", "gateway.usage_writer"], self.env(**gateway_env))
        self.start("outbox-relay", ["-m", "gateway.outbox_relay"], self.env(admin=True, **gateway_env))
        self.http("toolbox", "toolbox", self.env(TOOLBOX_METRICS_PORT="0"))
        self.http(
            "ingestion",
            "ingestion",
            self.env(
                INGESTION_SERVICE_KEY_NAMES=names,
                INGESTION_METRICS_PORT="0",
                INGESTION_TRACING="false",
                INGESTION_AUTH_CACHE_TTL_S="0.5",
            ),
        )
        self.http(
            "orchestrator",
            "orchestrator",
            self.env(
                ORCH_METRICS_PORT="0",
                ORCH_WORKER_METRICS_PORT="0",
                ORCH_TRACING="false",
                ORCH_AUTH_CACHE_TTL_S="0.5",
                ORCH_WAIT_MAX_S="30",
            ),
        )
        self.start_worker()

    # --- the worker ------------------------------------------------------------------------------------------------
    def worker_env(self, **overrides: str) -> dict[str, str]:
        return self.env(
            admin=True,
            ORCH_SERVICE_KEY=self.service_key.key,
            ORCH_GATEWAY_URL=self.urls["gateway"],
            ORCH_TOOLBOX_URL=self.urls["toolbox"],
            ORCH_INGESTION_URL=self.urls["ingestion"],
            ORCH_METRICS_PORT="0",
            ORCH_EXPIRY_SWEEP_S="0.5",
            ORCH_TRACING="false",
            **{**self.worker_overrides, **overrides},
        )

    def start_worker(self, **overrides: str) -> str:
        """(Re)start the worker with `overrides` on its env; returns its metrics URL (its readiness)."""
        port = free_port()
        metrics = f"http://127.0.0.1:{port}/metrics"
        env = self.worker_env(ORCH_WORKER_METRICS_PORT=str(port), **overrides)
        self.start("worker", ["-m", "orchestrator", "work"], env, ready_url=metrics)
        self.urls["worker-metrics"] = metrics
        return metrics

    def kill_worker(self) -> int | None:
        """SIGKILL (a crash: nothing acked, nothing flushed); returns the exit code."""
        proc = self.procs["worker"]
        proc.kill()
        return proc.proc.returncode if proc.proc else None

    def worker_exit(self, timeout_s: float) -> int | None:
        """Wait for the worker to exit by itself (a test crash point); its exit code, None if still running."""
        proc = self.procs["worker"].proc
        assert proc is not None
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()
