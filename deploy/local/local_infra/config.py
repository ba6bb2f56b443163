"""Where local instances live and which ports they use; the only place these scripts read os.environ."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["ROOT", "Component", "InfraError", "LocalConfig", "is_loopback", "mask_url", "read_dotenv"]

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class InfraError(RuntimeError):
    """A component could not be reached or started; the message says why and what to do."""


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, blank lines and `export ` allowed); {} when absent."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    values = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _port(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise InfraError(f"{name}={raw!r} is not a TCP port (1-65535).")
    return int(raw)


@dataclass(frozen=True)
class LocalConfig:
    """Ports, folders and configured URLs, read once from the environment."""

    local_dir: Path
    pg_port: int
    nats_port: int
    nats_monitor_port: int
    redis_port: int
    gateway_port: int
    provider_sim_port: int
    billing_port: int
    billing_admin_port: int
    analytics_port: int
    analytics_admin_port: int
    stripe_sim_port: int
    toolbox_port: int
    ingestion_port: int
    orchestrator_port: int
    control_plane_port: int
    realtime_port: int
    router_port: int
    router_admin_port: int
    ready_timeout_s: float
    pg_superuser_url: str
    nats_url: str
    nats_monitor_url: str
    redis_url: str
    explicit: dict[str, str]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LocalConfig:
        """Read AIAAS_* overrides and the configured infrastructure URLs (shell first, then .env)."""
        env = {**read_dotenv(ROOT / ".env"), **(os.environ if environ is None else environ)}
        names = ("DATABASE_URL", "ADMIN_DATABASE_URL", "MIGRATION_DATABASE_URL")
        return cls(
            local_dir=(ROOT / (env.get("AIAAS_LOCAL_DIR") or ".local")).resolve(),
            pg_port=_port(env, "AIAAS_PG_PORT", 55432),
            nats_port=_port(env, "AIAAS_NATS_PORT", 54222),
            nats_monitor_port=_port(env, "AIAAS_NATS_MONITOR_PORT", 58222),
            redis_port=_port(env, "AIAAS_REDIS_PORT", 56379),
            gateway_port=_port(env, "AIAAS_GATEWAY_PORT", 8080),
            provider_sim_port=_port(env, "AIAAS_PROVIDER_SIM_PORT", 8090),
            billing_port=_port(env, "AIAAS_BILLING_PORT", 8082),
            billing_admin_port=_port(env, "AIAAS_BILLING_ADMIN_PORT", 8086),
            analytics_port=_port(env, "AIAAS_ANALYTICS_PORT", 8083),
            analytics_admin_port=_port(env, "AIAAS_ANALYTICS_ADMIN_PORT", 8087),
            stripe_sim_port=_port(env, "AIAAS_STRIPE_SIM_PORT", 8092),
            toolbox_port=_port(env, "AIAAS_TOOLBOX_PORT", 8094),
            ingestion_port=_port(env, "AIAAS_INGESTION_PORT", 8095),
            orchestrator_port=_port(env, "AIAAS_ORCHESTRATOR_PORT", 8096),
            control_plane_port=_port(env, "AIAAS_CONTROL_PLANE_PORT", 8084),
            realtime_port=_port(env, "AIAAS_REALTIME_PORT", 8085),
            router_port=_port(env, "AIAAS_ROUTER_PORT", 8088),
            router_admin_port=_port(env, "AIAAS_ROUTER_ADMIN_PORT", 8089),
            ready_timeout_s=float(env.get("AIAAS_INFRA_TIMEOUT_S") or 60),
            pg_superuser_url=env.get("PG_SUPERUSER_URL", ""),
            nats_url=env.get("NATS_URL", ""),
            nats_monitor_url=env.get("NATS_MONITOR_URL", ""),
            redis_url=env.get("REDIS_URL", ""),
            explicit={name: env[name] for name in names if env.get(name)},
        )

    @property
    def run_dir(self) -> Path:
        return self.local_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.local_dir / "log"

    def pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def logfile(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def local_pg_url(self) -> str:
        return f"postgresql://postgres:postgres@127.0.0.1:{self.pg_port}/postgres"

    def local_nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def local_nats_monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.nats_monitor_port}"

    def local_redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"


def is_loopback(url: str, port: int) -> bool:
    """True when `url` names this project's local instance (so it is not an outside configuration)."""
    parts = urlsplit(url)
    return (parts.hostname or "") in LOOPBACK_HOSTS and parts.port == port


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@dataclass(frozen=True)
class Component:
    """One piece of infrastructure as `up` left it: where it is and who runs it."""

    name: str
    url: str
    origin: str  # "configured" (outside URL), "started" (by this call) or "reused" (already running)
    pid: int | None = None

    @property
    def started(self) -> bool:
        return self.origin == "started"
