"""The platform as real processes for a STRESS run, on a throwaway database (a copy of the evals' migrated
template, evals.runner.database) and a private NATS: the provider simulator, gateway (+ usage writer, outbox
relay), toolbox, ingestion, the orchestrator API and 2+ workers that can be killed and restarted one by one.

Private because the ORCH stream is a work queue with one durable consumer: a worker of another session on the
shared NATS would take this run's messages, and a kill or restart here must not hit anyone else. Each process gets
the DSNs of its roles only (as the orchestrator's e2e stack does); workers hold app_runtime and platform_admin.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from aiaas import clock
from aiaas.db import create_engine, session_factory
from aiaas_testing import AdminKey, InfraUrls, NatsServer, ServiceProcess, free_port
from aiaas_testing.admin_keys import create_test_admin_key
from aiaas_testing.infra import infra_urls_from_env
from evals.runner.database import create_database, drop_database, role_dsns

__all__ = ["StressStack"]

_DSNS = ("DATABASE_URL", "ADMIN_DATABASE_URL", "MIGRATION_DATABASE_URL", "PG_SUPERUSER_URL")


@dataclass
class StressStack:
    run_dir: Path
    workers: int = 2
    worker_max_inflight: int = 16
    database: str = ""
    infra: InfraUrls | None = None
    owner_url: str = ""
    nats: NatsServer | None = None
    service_key: AdminKey | None = None
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    worker_metrics: dict[str, str] = field(default_factory=dict)  # worker name -> its metrics URL
    generations: dict[str, int] = field(default_factory=dict)  # worker name -> times started
    timings: dict[str, float] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)  # processes up (a restarting worker is not)

    # --- lifecycle -----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        began = time.monotonic()
        self.database = await create_database(self.run_dir)  # a copy of the migrated template (evals.runner)
        self.timings["database_s"] = time.monotonic() - began
        dsns, shared = role_dsns(self.database), infra_urls_from_env()
        self.infra = InfraUrls(dsns["DATABASE_URL"], dsns["ADMIN_DATABASE_URL"], shared.nats_url, shared.redis_url)
        self.owner_url = dsns["MIGRATION_DATABASE_URL"]
        engine = create_engine(self.owner_url, pool_size=1)
        try:
            self.service_key = await create_test_admin_key(session_factory(engine), f"stress-{uuid.uuid4().hex[:8]}")
        finally:
            await engine.dispose()
        self.nats = NatsServer(self.run_dir / "nats").start()
        began = time.monotonic()
        await self._start_platform()
        self.timings["processes_s"] = time.monotonic() - began

    async def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            await asyncio.to_thread(proc.stop)
        if self.nats is not None:
            await asyncio.to_thread(self.nats.stop)
        if self.database:
            await drop_database(self.database)

    # --- environment ---------------------------------------------------------------------------------------------
    def env(self, *, admin: bool = False, **extra: str) -> dict[str, str]:
        assert self.infra is not None and self.nats is not None
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

    def _process(self, name: str, args: list[str], env: dict[str, str], ready_url: str | None) -> ServiceProcess:
        process = ServiceProcess(
            args, env=env, log_path=self.run_dir / f"{name}.log", ready_url=ready_url, inherit_env=False
        )
        self.procs[name] = process
        return process

    async def _start_platform(self) -> None:
        """Every process at once (each only needs the others' URLs, chosen up front): on a loaded 2-core machine
        one start takes 10-30 s of imports, so starting them in sequence took minutes."""
        assert self.service_key is not None
        for name in ("provider-sim", "gateway", "toolbox", "ingestion", "orchestrator"):
            self.urls[name] = f"http://127.0.0.1:{free_port()}"
        sim = self.urls["provider-sim"]
        deployment = {
            "provider": "openai",
            "base_url": f"{sim}/v1",
            "input_usd_per_1k": "0.5",
            "output_usd_per_1k": "1.5",
        }
        aliases = [
            {"name": "gpt-4o-mini", "deployments": [{"name": "mini", "model": "sim-mini", **deployment}]},
            {"name": "gpt-4o", "deployments": [{"name": "large", "model": "sim-large", **deployment}]},
        ]
        models = self.run_dir / "models.yaml"
        models.write_text(yaml.safe_dump({"aliases": aliases}))
        names = self.service_key.name
        gateway_env = {
            "GATEWAY_MODELS_FILE": str(models),
            "GATEWAY_PROVIDER_SIM_URL": sim,
            "GATEWAY_SERVICE_KEY_NAMES": names,
            "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
            "GATEWAY_OUTBOX_RELAY_METRICS_PORT": "0",
        }
        envs = {
            "provider-sim": self.env(),
            "gateway": self.env() | gateway_env,
            "toolbox": self.env(TOOLBOX_METRICS_PORT="0"),
            "ingestion": self.env(
                INGESTION_SERVICE_KEY_NAMES=names,
                INGESTION_METRICS_PORT="0",
                INGESTION_TRACING="false",
                INGESTION_AUTH_CACHE_TTL_S="5",
            ),
            "orchestrator": self.env(
                ORCH_METRICS_PORT="0", ORCH_WORKER_METRICS_PORT="0", ORCH_TRACING="false", ORCH_WAIT_MAX_S="30"
            ),
        }
        modules = {"provider-sim": "provider_sim"}
        processes = []
        for name, env in envs.items():
            url = self.urls[name]
            ready = url + ("/health" if name == "provider-sim" else "/health/ready")
            args = ["-m", modules.get(name, name), "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]]
            processes.append(self._process(name, args, env, ready))
        processes.append(self._process("usage-writer", ["-m", "gateway.usage_writer"], envs["gateway"], None))
        relay_env = self.env(admin=True) | gateway_env
        processes.append(self._process("outbox-relay", ["-m", "gateway.outbox_relay"], relay_env, None))
        workers = {name: self._worker(name) for name in self.worker_names()}
        processes.extend(process for process, _ in workers.values())
        await asyncio.gather(*(asyncio.to_thread(process.start, 180.0) for process in processes))
        self.ready.update(self.procs)
        self.worker_metrics.update({name: metrics for name, (_, metrics) in workers.items()})

    # --- workers -------------------------------------------------------------------------------------------------
    def _worker(self, name: str) -> tuple[ServiceProcess, str]:
        assert self.service_key is not None
        port = free_port()
        env = self.env(
            admin=True,
            ORCH_SERVICE_KEY=self.service_key.key,
            ORCH_GATEWAY_URL=self.urls["gateway"],
            ORCH_TOOLBOX_URL=self.urls["toolbox"],
            ORCH_INGESTION_URL=self.urls["ingestion"],
            ORCH_METRICS_PORT="0",
            ORCH_WORKER_METRICS_PORT=str(port),
            ORCH_MAX_INFLIGHT=str(self.worker_max_inflight),
            ORCH_EXPIRY_SWEEP_S="5",
            ORCH_TRACING="false",
        )
        metrics = f"http://127.0.0.1:{port}/metrics"
        process = self._process(name, ["-m", "orchestrator", "work"], env, metrics)
        self.generations[name] = self.generations.get(name, 0) + 1
        return process, metrics

    def start_worker(self, name: str) -> None:
        """(Re)start worker `name` and wait for its metrics listener (its readiness)."""
        process, metrics = self._worker(name)
        process.start(180.0)
        self.worker_metrics[name] = metrics
        self.ready.add(name)

    def kill_worker(self, name: str) -> None:
        """SIGKILL: nothing acked, nothing flushed (its runs come back after the consumer's ack_wait)."""
        self.ready.discard(name)
        self.worker_metrics.pop(name, None)
        self.procs[name].kill()

    def worker_names(self) -> list[str]:
        return [f"worker-{i}" for i in range(self.workers)]

    def pids(self) -> dict[str, int]:
        return {
            name: proc.proc.pid
            for name, proc in self.procs.items()
            if name in self.ready and proc.proc is not None and proc.proc.poll() is None
        }
