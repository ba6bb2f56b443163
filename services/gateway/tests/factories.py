"""Helpers the gateway tests import: the gateways' env, a started gateway process, the usage event validator."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

from aiaas_testing import InfraUrls, ServiceProcess, free_port
from data_plane import EVENTS_DIR

# The gateways of this session write their usage write-ahead logs here, not in the host's shared default.
WAL_DIR = tempfile.mkdtemp(prefix="gateway-tests-wal-")


def gateway_env(infra_urls: InfraUrls, models_file: Path, sim_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": infra_urls.nats_url,
        "REDIS_URL": infra_urls.redis_url,
        "GATEWAY_MODELS_FILE": str(models_file),
        "GATEWAY_PROVIDER_SIM_URL": sim_url,
        "GATEWAY_BREAKER_FAILURE_THRESHOLD": "3",
        "GATEWAY_BREAKER_COOLDOWN_S": "1.0",
        "GATEWAY_RETRY_ATTEMPTS": "2",
        "GATEWAY_USAGE_WAL_DIR": WAL_DIR,
        "GATEWAY_AUTH_CACHE_TTL_S": "0.5",
        "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
        "OPENAI_API_KEY": "",
        "ANTHROPIC_API_KEY": "",
        "LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return env


# Gateway URL -> the URL of its metrics listener (GATEWAY_METRICS_PORT), for every gateway these tests start.
METRICS_URLS: dict[str, str] = {}


def start_gateway(run_dir: Path, env: dict[str, str], name: str = "gateway") -> tuple[ServiceProcess, str]:
    port = free_port()
    env = {"GATEWAY_METRICS_PORT": str(free_port()), **env}
    proc = ServiceProcess(
        ["-m", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=run_dir / f"{name}-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    url = f"http://127.0.0.1:{port}"
    METRICS_URLS[url] = f"http://127.0.0.1:{env['GATEWAY_METRICS_PORT']}/metrics"
    return proc, url


def usage_validator() -> jsonschema.Draft202012Validator:
    """Validates a whole `usage.recorded` envelope against data-plane/events (formats checked)."""
    resources = []
    for path in EVENTS_DIR.glob("*.json"):
        schema = json.loads(path.read_text())
        resources += [(path.name, Resource.from_contents(schema)), (schema["$id"], Resource.from_contents(schema))]
    schema = json.loads((EVENTS_DIR / "usage.recorded.json").read_text())
    return jsonschema.Draft202012Validator(
        schema, registry=Registry().with_resources(resources), format_checker=jsonschema.FormatChecker()
    )
