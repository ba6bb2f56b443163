"""The three components together: up, down, status and the environment services need."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from urllib.parse import urlsplit

from local_infra import nats_server, postgres, redis_server
from local_infra.config import Component, LocalConfig

__all__ = ["COMPONENT_NAMES", "down", "env_vars", "infra_lock", "status", "up"]

COMPONENTS: dict[str, ModuleType] = {"postgres": postgres, "nats": nats_server, "redis": redis_server}
COMPONENT_NAMES = tuple(COMPONENTS)
APP_ROLES = {
    "DATABASE_URL": "app_runtime",
    "ADMIN_DATABASE_URL": "platform_admin",
    "MIGRATION_DATABASE_URL": "aiaas_owner",
}


@contextmanager
def infra_lock(cfg: LocalConfig) -> Iterator[None]:
    """Serialise up/down across processes (two `make` runs at once start nothing twice)."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with (cfg.run_dir / "infra.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def up(
    cfg: LocalConfig,
    names: Sequence[str] = COMPONENT_NAMES,
    on_ready: Callable[[Component], None] | None = None,
) -> list[Component]:
    """Bring up each named component (reusing what runs); raises InfraError on the first failure."""
    ready = []
    with infra_lock(cfg):
        for name in names:
            component = COMPONENTS[name].up(cfg)
            ready.append(component)
            if on_ready is not None:
                on_ready(component)
    return ready


def down(cfg: LocalConfig, names: Sequence[str] = COMPONENT_NAMES) -> dict[str, int | None]:
    """Stop the project-local instances of the named components; name -> pid stopped (None: not running)."""
    with infra_lock(cfg):
        return {name: COMPONENTS[name].down(cfg) for name in reversed(list(names))}


def status(cfg: LocalConfig) -> dict[str, str]:
    """Component name -> one line of state ("up ...", "down ...")."""
    return {name: module.state(cfg) for name, module in COMPONENTS.items()}


def _role_url(pg_url: str, role: str, explicit: str | None) -> str:
    """The role's URL on the server of `pg_url`, unless an explicit one points at that same server."""
    server = urlsplit(pg_url)
    if explicit:
        given = urlsplit(explicit)
        if (given.hostname, given.port or 5432) == (server.hostname, server.port or 5432):
            return explicit
    query = f"?{server.query}" if server.query else ""
    return f"postgresql+asyncpg://{role}:{role}@{server.netloc.rsplit('@', 1)[-1]}/aiaas{query}"


def env_vars(cfg: LocalConfig) -> dict[str, str]:
    """The infrastructure variables for services and tests: configured URLs that answer, else local ones."""
    pg_url = postgres.configured_url(cfg) or cfg.local_pg_url()
    values = {"PG_SUPERUSER_URL": pg_url}
    for name, role in APP_ROLES.items():
        values[name] = _role_url(pg_url, role, cfg.explicit.get(name))
    values["NATS_URL"] = nats_server.configured_url(cfg) or cfg.local_nats_url()
    values["NATS_MONITOR_URL"] = nats_server.monitor_url(cfg)
    values["REDIS_URL"] = redis_server.configured_url(cfg) or cfg.local_redis_url()
    return values
