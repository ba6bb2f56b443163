"""Cross-service fixtures: the whole platform as real processes (simulator, gateway, billing, analytics).

Each test that needs the stack builds one with `platform_stack(...)`, choosing the NATS it talks to
(the shared one, or a private server the test may stop and restart) and which processes to run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from aiaas.roles import process_env
from aiaas_testing import InfraUrls, ServiceProcess, free_port

PRICE_IN, PRICE_OUT = "0.5", "1.5"


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("platform")


@pytest.fixture(scope="session")
def provider_sim(stack_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "provider_sim", "--host", "127.0.0.1", "--port", str(port)],
        env={},
        log_path=stack_dir / "provider-sim.log",
        ready_url=f"http://127.0.0.1:{port}/health",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture(scope="session")
def stack_models_file(stack_dir: Path, provider_sim: str) -> Path:
    """One alias per billing tier, both on the simulator."""

    def deployment(name: str) -> dict[str, str]:
        return {
            "name": name,
            "provider": "openai",
            "model": f"sim-{name}",
            "base_url": f"{provider_sim}/v1",
            "input_usd_per_1k": PRICE_IN,
            "output_usd_per_1k": PRICE_OUT,
        }

    aliases = [
        {"name": "gpt-4o-mini", "deployments": [deployment("mini")]},
        {"name": "gpt-4o", "deployments": [deployment("large")]},
    ]
    path = stack_dir / "models.yaml"
    path.write_text(yaml.safe_dump({"aliases": aliases}))
    return path


@dataclass
class PlatformStack:
    """Named service processes sharing one environment; tests kill and restart them by name.

    Names are the processes of aiaas.roles (`-` or `_`): each is started with only its roles' DSNs.
    """

    run_dir: Path
    env: dict[str, str]
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def start(self, name: str, module: str, *, http: bool = False, ready_path: str = "/health/ready") -> str | None:
        args = ["-m", module]
        url = None
        ready = None
        if http:
            port = free_port()
            args += ["--host", "127.0.0.1", "--port", str(port)]
            url = f"http://127.0.0.1:{port}"
            ready = url + ready_path
        # Each process gets only the DSNs of its roles (aiaas.roles), as under `make dev` and in compose.
        env = process_env(name.replace("-", "_"), {**os.environ, **self.env})
        proc = ServiceProcess(
            args, env=env, log_path=self.run_dir / f"{name}.log", ready_url=ready, inherit_env=False
        ).start()
        self.procs[name] = proc
        if url:
            self.urls[name] = url
        return url

    def kill(self, name: str) -> None:
        self.procs[name].kill()

    def restart(self, name: str) -> None:
        self.procs[name].start()

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()


@pytest.fixture
def platform_stack(
    stack_dir: Path, infra_urls: InfraUrls, stack_models_file: Path, provider_sim: str
) -> Iterator[Callable[..., PlatformStack]]:
    """Factory: `platform_stack(nats_url=..., **extra_env)` -> an empty PlatformStack to start services in."""
    stacks: list[PlatformStack] = []

    def _make(nats_url: str | None = None, **extra_env: str) -> PlatformStack:
        env = {
            "DATABASE_URL": infra_urls.database_url,
            "ADMIN_DATABASE_URL": infra_urls.admin_database_url,
            "NATS_URL": nats_url or infra_urls.nats_url,
            "REDIS_URL": infra_urls.redis_url,
            "GATEWAY_MODELS_FILE": str(stack_models_file),
            "GATEWAY_PROVIDER_SIM_URL": provider_sim,
            "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
            "ANALYTICS_CONSUMER_METRICS_PORT": "0",
            "BILLING_METER_METRICS_PORT": "0",
            "OPENAI_API_KEY": "",
            "ANTHROPIC_API_KEY": "",
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
        stack = PlatformStack(stack_dir / f"stack-{len(stacks)}", env)
        stacks.append(stack)
        return stack

    yield _make
    for stack in stacks:
        stack.stop_all()
