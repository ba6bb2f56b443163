"""Realtime test fixtures: provider simulator, gateway + usage writer, and realtime processes (all real)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from aiaas_testing import InfraUrls, ServiceProcess, free_port

from .factories import IDLE_TIMEOUT_S, MAX_CONNECTIONS_PER_TENANT, MAX_FRAME_BYTES, WS_MAX_SIZE, Realtime

# Simulator profiles: `rt` paces tokens (latency measurements), `slow` streams for ~2 s (resume),
# `big` sends 400 tokens at once (floods a client that does not read).
SIM_PROFILES = {
    "sim-rt": {"token_delay_ms": 20, "reply_min_tokens": 30, "reply_max_tokens": 30},
    "sim-slow": {"token_delay_ms": 50, "reply_min_tokens": 40, "reply_max_tokens": 40},
    "sim-big": {"reply_min_tokens": 400, "reply_max_tokens": 400},
}
ALIASES = {"chat": "sim-chat", "rt": "sim-rt", "slow": "sim-slow", "big": "sim-big"}


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("realtime-run")


@pytest.fixture(scope="session")
def sim_url(run_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "provider_sim", "--host", "127.0.0.1", "--port", str(port)],
        env={"PROVIDER_SIM_MODELS_JSON": json.dumps(SIM_PROFILES), "LOG_LEVEL": "WARNING"},
        log_path=run_dir / "sim.log",
        ready_url=f"http://127.0.0.1:{port}/health",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def gateway_env(run_dir: Path, infra_urls: InfraUrls, sim_url: str) -> dict[str, str]:
    aliases = [
        {
            "name": alias,
            "deployments": [
                {
                    "name": f"{alias}-sim",
                    "provider": "openai",
                    "model": model,
                    "base_url": f"{sim_url}/v1",
                    "input_usd_per_1k": "0.5",
                    "output_usd_per_1k": "1.5",
                }
            ],
        }
        for alias, model in ALIASES.items()
    ]
    models = run_dir / "models.yaml"
    models.write_text(yaml.safe_dump({"aliases": aliases}))
    return {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": infra_urls.nats_url,
        "REDIS_URL": infra_urls.redis_url,
        "GATEWAY_MODELS_FILE": str(models),
        "GATEWAY_PROVIDER_SIM_URL": sim_url,
        "GATEWAY_AUTH_CACHE_TTL_S": "0.5",
        "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def gateway_url(run_dir: Path, gateway_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        env=gateway_env,
        log_path=run_dir / "gateway.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def usage_writer(run_dir: Path, gateway_env: dict[str, str]) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(["-m", "gateway.usage_writer"], env=gateway_env, log_path=run_dir / "usage-writer.log")
    yield proc.start()
    proc.stop()


@pytest.fixture(scope="session")
def spawn_realtime(run_dir: Path, infra_urls: InfraUrls, gateway_url: str) -> Iterator[Callable[..., Realtime]]:
    """Start a realtime process (stopped at session end): `spawn_realtime("name", REALTIME_X="...")`."""
    started: list[Realtime] = []

    def _spawn(name: str = "realtime", **overrides: str) -> Realtime:
        port, metrics_port = free_port(), free_port()
        env = {
            "REALTIME_METRICS_PORT": str(metrics_port),
            "DATABASE_URL": infra_urls.database_url,
            "NATS_URL": infra_urls.nats_url,
            "REDIS_URL": infra_urls.redis_url,
            "REALTIME_GATEWAY_URL": gateway_url,
            "REALTIME_AUTH_CACHE_TTL_S": "0.5",
            "REALTIME_MAX_CONNECTIONS_PER_TENANT": str(MAX_CONNECTIONS_PER_TENANT),
            "REALTIME_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
            "REALTIME_MAX_FRAME_BYTES": str(MAX_FRAME_BYTES),
            "REALTIME_WS_MAX_SIZE": str(WS_MAX_SIZE),
            "REALTIME_DRAIN_TIMEOUT_S": "5",
            "LOG_LEVEL": "WARNING",
            **overrides,
        }
        proc = ServiceProcess(
            ["-m", "realtime", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            log_path=run_dir / f"{name}-{port}.log",
            ready_url=f"http://127.0.0.1:{port}/health/ready",
        ).start()
        realtime = Realtime(proc, port, int(env["REALTIME_METRICS_PORT"]))
        started.append(realtime)
        return realtime

    yield _spawn
    for realtime in started:
        realtime.proc.stop()


@pytest.fixture(scope="session")
def rt_a(spawn_realtime: Callable[..., Realtime]) -> Realtime:
    return spawn_realtime("realtime-a")


@pytest.fixture(scope="session")
def rt_b(spawn_realtime: Callable[..., Realtime]) -> Realtime:
    """A second realtime process on the same Postgres, Redis and NATS."""
    return spawn_realtime("realtime-b")
