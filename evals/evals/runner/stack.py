"""The platform `make eval` runs the golden tasks against: real processes on free ports, torn down afterwards.

What it starts: a throwaway database on the project's Postgres (bootstrapped and migrated as `make migrate` does),
a private NATS, then provider simulator, toolbox, control plane, gateway (+ outbox relay), ingestion, orchestrator
API and worker. Why throwaway and private: the agent registry is a platform-wide catalogue (the eval pins its
policy model there with `PUT /admin/agents/{name}`), the ORCH stream is a work queue with one durable consumer,
and an outbox relay on the shared database would relay these runs' events to another NATS. The orchestrator's
e2e stack (services/orchestrator/tests/e2e) is built the same way for the same reasons.

Each process gets the DSNs of its roles only (`aiaas.roles.process_env`); the orchestrator's worker calls the
gateway and ingestion with a named platform-admin key those two are told of (as `make dev` does).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aiaas import clock
from aiaas.db import create_engine, session_factory
from aiaas.roles import DSN_ROLES, process_env
from aiaas_testing import AdminKey, NatsServer, ServiceProcess, free_port
from aiaas_testing.admin_keys import create_test_admin_key
from evals.runner.database import DatabaseError, create_database, drop_database, role_dsns

__all__ = ["EvalStack", "StackError", "StackUrls"]

SERVICE_KEY_NAME = "orchestrator-evals"
ADMIN_KEY_NAME = "evals-runner"


class StackError(RuntimeError):
    """The platform could not be brought up (the gate's exit 2): which part, and the end of its log."""


@dataclass(frozen=True)
class StackUrls:
    """Where a running platform answers, and the platform-admin key the runner administers it with."""

    orchestrator: str
    gateway: str
    toolbox: str
    ingestion: str
    control_plane: str
    nats: str
    admin_key: str
    provider_sim: str = ""


@dataclass
class EvalStack:
    """Start with `start()` (blocking; run it in a thread from async code), stop with `stop()`."""

    run_dir: Path | None = None
    simulator_env: dict[str, str] = field(default_factory=dict)
    keep_logs: bool = False
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    database: str = ""
    nats: NatsServer | None = None
    urls: StackUrls | None = None
    ready_s: dict[str, float] = field(default_factory=dict)  # seconds from start() to each part's readiness
    _own_dir: bool = False
    _started: float = 0.0

    # --- database ----------------------------------------------------------------------------------------------
    def _dsns(self) -> dict[str, str]:
        return role_dsns(self.database)

    async def _admin_keys(self) -> tuple[AdminKey, AdminKey]:
        engine = create_engine(self._dsns()["MIGRATION_DATABASE_URL"], pool_size=1)
        try:
            sessions = session_factory(engine)
            service = await create_test_admin_key(sessions, SERVICE_KEY_NAME)
            admin = await create_test_admin_key(sessions, ADMIN_KEY_NAME)
            return service, admin
        finally:
            await engine.dispose()

    # --- processes ---------------------------------------------------------------------------------------------
    def _dir(self) -> Path:
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="aiaas-evals-"))
            self._own_dir = True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir

    def _env(self, process: str, **extra: str) -> dict[str, str]:
        assert self.nats is not None
        base = {key: value for key, value in os.environ.items() if key not in DSN_ROLES}
        base.update(self._dsns())
        base.update(
            {
                "NATS_URL": self.nats.url,
                "LOG_LEVEL": "WARNING",
                "OPENAI_API_KEY": "",
                "ANTHROPIC_API_KEY": "",
                clock.OFFSET_ENV: repr(clock.offset_s()),
            }
        )
        base.update(extra)
        return process_env(process, base)

    def _spawn(self, name: str, args: list[str], env: dict[str, str], ready_url: str | None) -> ServiceProcess:
        proc = ServiceProcess(args, env=env, log_path=self._dir() / f"{name}.log", ready_url=None, inherit_env=False)
        proc.start()  # not waited for here: every process imports at once, then `_wait_all` polls them
        proc.ready_url = ready_url
        self.procs[name] = proc
        return proc

    def _http(self, name: str, module: str, env: dict[str, str], ready: str = "/health/ready") -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self._spawn(name, ["-m", module, "--host", "127.0.0.1", "--port", str(port)], env, url + ready)
        return url

    def _wait_all(self, names: list[str], timeout_s: float) -> None:
        def wait(name: str) -> None:
            proc = self.procs[name]
            if proc.ready_url is None:
                return
            try:
                proc._wait_ready(proc.ready_url, timeout_s)
            except RuntimeError as exc:
                raise StackError(f"{name} did not get ready: {exc}") from None
            self.ready_s[name] = round(time.monotonic() - self._started, 2)

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            for future in [pool.submit(wait, name) for name in names]:
                future.result()

    def start(self, timeout_s: float = 240.0) -> StackUrls:
        """Bring the platform up; StackError (after stopping what started) when a part does not come up."""
        started = self._started = time.monotonic()
        try:
            self.nats = NatsServer(self._dir() / "nats").start()
            try:
                self.database = asyncio.run(create_database(self._dir()))
            except DatabaseError as exc:
                raise StackError(str(exc)) from None
            service, admin = asyncio.run(self._admin_keys())
            self.ready_s["database"] = round(time.monotonic() - started, 2)
            sim_env = {"PROVIDER_SIM_METRICS_PORT": "0", **self.simulator_env}
            sim = self._http("provider_sim", "provider_sim", self._env("provider_sim", **sim_env), "/health")
            toolbox = self._http("toolbox", "toolbox", self._env("toolbox", TOOLBOX_METRICS_PORT="0"))
            control = self._http(
                "control_plane",
                "control_plane",
                self._env("control_plane", CONTROL_PLANE_METRICS_PORT="0", CONTROL_PLANE_TRACING="false"),
            )
            gateway_env = {
                "GATEWAY_PROVIDER_SIM_URL": sim,
                "GATEWAY_SERVICE_KEY_NAMES": SERVICE_KEY_NAME,
                "GATEWAY_METRICS_PORT": "0",
                "GATEWAY_OUTBOX_RELAY_METRICS_PORT": "0",
                "GATEWAY_TRACING": "false",
            }
            gateway = self._http("gateway", "gateway", self._env("gateway", **gateway_env))
            self._spawn("outbox_relay", ["-m", "gateway.outbox_relay"], self._env("outbox_relay", **gateway_env), None)
            ingestion = self._http(
                "ingestion",
                "ingestion",
                self._env(
                    "ingestion",
                    INGESTION_SERVICE_KEY_NAMES=SERVICE_KEY_NAME,
                    INGESTION_METRICS_PORT="0",
                    INGESTION_TRACING="false",
                    INGESTION_AUTH_CACHE_TTL_S="0.5",
                ),
            )
            orch_env = {
                "ORCH_METRICS_PORT": "0",
                "ORCH_TRACING": "false",
                "ORCH_AUTH_CACHE_TTL_S": "0.5",
                "ORCH_WAIT_MAX_S": "60",
                "ORCH_SSE_POLL_S": "0.05",
            }
            orchestrator = self._http("orchestrator", "orchestrator", self._env("orchestrator", **orch_env))
            worker_port = free_port()
            worker_env = self._env(
                "orchestrator_worker",
                **orch_env,
                ORCH_WORKER_METRICS_PORT=str(worker_port),
                ORCH_SERVICE_KEY=service.key,
                ORCH_GATEWAY_URL=gateway,
                ORCH_TOOLBOX_URL=toolbox,
                ORCH_INGESTION_URL=ingestion,
            )
            self._spawn("worker", ["-m", "orchestrator", "work"], worker_env, f"http://127.0.0.1:{worker_port}/metrics")
            remaining = max(5.0, timeout_s - (time.monotonic() - started))
            self._wait_all(list(self.procs), remaining)
        except BaseException:
            self.stop()
            raise
        self.urls = StackUrls(
            orchestrator=orchestrator,
            gateway=gateway,
            toolbox=toolbox,
            ingestion=ingestion,
            control_plane=control,
            nats=self.nats.url,
            admin_key=admin.key,
            provider_sim=sim,
        )
        return self.urls

    def stop_process(self, name: str) -> None:
        """Stop one part (a test takes the simulator away to see the gate answer 2)."""
        self.procs[name].stop()

    def restart_process(self, name: str, timeout_s: float = 120.0) -> None:
        """Start a stopped part again, on its port and with its environment, and wait until it is ready."""
        self.procs[name].start(timeout_s)  # its ready_url is set by now: start() waits for it

    def stop(self) -> None:
        procs = list(self.procs.values())
        if procs:  # SIGTERM to all at once: each drains on its own, none waits for another
            with ThreadPoolExecutor(max_workers=len(procs)) as pool:
                list(pool.map(lambda proc: proc.stop(), procs))
        self.procs.clear()
        if self.nats is not None:
            self.nats.stop()
            self.nats = None
        if self.database:
            asyncio.run(drop_database(self.database))
            self.database = ""
        if self._own_dir and self.run_dir is not None and not self.keep_logs:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def log_tail(self, name: str, lines: int = 30) -> str:
        proc = self.procs.get(name)
        return proc.tail(lines) if proc else ""
