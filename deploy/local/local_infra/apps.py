"""The platform's own processes under `make dev`: started detached with pid files, stopped together."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from local_infra.config import ROOT, InfraError, LocalConfig
from local_infra.processes import describe_port_owner, port_open, running_pid, spawn_detached, stop_processes

__all__ = ["AppProcess", "app_processes", "check_free", "http_ok", "stop_apps"]


@dataclass
class AppProcess:
    """One service process: its name (pid file, log), module and arguments."""

    name: str
    module: str
    args: list[str] = field(default_factory=list)
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args]

    def pidfile_name(self) -> str:
        return f"app-{self.name}"

    def start(self, cfg: LocalConfig, env: dict[str, str]) -> None:
        """Start detached (own session) so a terminal's Ctrl-C reaches only `make dev`, which stops it."""
        self.proc = spawn_detached(
            self.command(),
            log=cfg.logfile(self.name),
            pidfile=cfg.pidfile(self.pidfile_name()),
            env=env,
            cwd=ROOT,
        )

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop_requested(self, cfg: LocalConfig) -> bool:
        """True once `make down` (or our own shutdown) removed this app's pid file."""
        return self.proc is not None and not cfg.pidfile(self.pidfile_name()).exists()


def app_processes(cfg: LocalConfig) -> list[AppProcess]:
    """Everything `make dev` runs besides infrastructure, in start order (names are aiaas.roles' processes)."""
    sim, gateway, stripe = cfg.provider_sim_port, cfg.gateway_port, cfg.stripe_sim_port
    billing, analytics, control = cfg.billing_port, cfg.analytics_port, cfg.control_plane_port
    billing_admin, analytics_admin, realtime = cfg.billing_admin_port, cfg.analytics_admin_port, cfg.realtime_port
    return [
        AppProcess("control_plane", "control_plane", ["--host", "127.0.0.1", "--port", str(control)], control),
        AppProcess("provider_sim", "provider_sim", ["--host", "127.0.0.1", "--port", str(sim)], sim),
        AppProcess("stripe_sim", "stripe_sim", ["--host", "127.0.0.1", "--port", str(stripe)], stripe),
        AppProcess("toolbox", "toolbox", ["--host", "127.0.0.1", "--port", str(cfg.toolbox_port)], cfg.toolbox_port),
        AppProcess("gateway", "gateway", ["--host", "127.0.0.1", "--port", str(gateway)], gateway),
        AppProcess("usage_writer", "gateway.usage_writer"),
        AppProcess("outbox_relay", "gateway.outbox_relay"),
        AppProcess("billing", "billing", ["--host", "127.0.0.1", "--port", str(billing)], billing),
        AppProcess(
            "billing_admin", "billing.admin", ["--host", "127.0.0.1", "--port", str(billing_admin)], billing_admin
        ),
        AppProcess("billing_meter", "billing.meter"),
        AppProcess("billing_stripe_sync", "billing.stripe.consumers"),
        AppProcess("analytics", "analytics", ["--host", "127.0.0.1", "--port", str(analytics)], analytics),
        AppProcess(
            "analytics_admin",
            "analytics.admin",
            ["--host", "127.0.0.1", "--port", str(analytics_admin)],
            analytics_admin,
        ),
        AppProcess("analytics_consumer", "analytics.consumer"),
        AppProcess("realtime", "realtime", ["--host", "127.0.0.1", "--port", str(realtime)], realtime),
        AppProcess("router", "router", ["--host", "127.0.0.1", "--port", str(cfg.router_port)], cfg.router_port),
        AppProcess("router_consumer", "router", ["consume"]),
        AppProcess(
            "router_admin",
            "router.admin",
            ["--host", "127.0.0.1", "--port", str(cfg.router_admin_port)],
            cfg.router_admin_port,
        ),
        AppProcess(
            "ingestion", "ingestion", ["--host", "127.0.0.1", "--port", str(cfg.ingestion_port)], cfg.ingestion_port
        ),
        AppProcess("ingestion_consumer", "ingestion", ["consume"]),
        AppProcess(
            "orchestrator",
            "orchestrator",
            ["--host", "127.0.0.1", "--port", str(cfg.orchestrator_port)],
            cfg.orchestrator_port,
        ),
        AppProcess("orchestrator_worker", "orchestrator", ["work"]),
    ]


def check_free(cfg: LocalConfig, apps: list[AppProcess]) -> None:
    """Fail clearly when a previous `make dev` still runs or a port is taken by another program."""
    for app in apps:
        pid = running_pid(cfg.pidfile(app.pidfile_name()), app.module)
        if pid is not None:
            raise InfraError(
                f"{app.name} is already running (pid {pid}) from an earlier `make dev`; "
                "use that one, or stop it with `make down`."
            )
        if app.port is not None and port_open("127.0.0.1", app.port):
            raise InfraError(f"Port {app.port} for {app.name} is in use by {describe_port_owner(app.port)}.")


def stop_apps(cfg: LocalConfig, apps: list[AppProcess], timeout_s: float = 45.0) -> dict[str, int]:
    """Stop every app with a live pid file: the gateway first (it drains), then the rest together.

    Pid files go first, so a `make dev` watching its children knows the stop was asked for.
    Returns name -> pid stopped; an app still running after `timeout_s` is killed and reported.
    """
    running = {}
    for app in apps:
        pidfile = cfg.pidfile(app.pidfile_name())
        pid = running_pid(pidfile, app.module)
        pidfile.unlink(missing_ok=True)
        if pid is not None:
            running[app.name] = pid
    first = {name: pid for name, pid in running.items() if name == "gateway"}
    rest = {name: pid for name, pid in running.items() if name != "gateway"}
    for group in (first, rest):
        for pid in stop_processes(list(group.values()), sig=signal.SIGTERM, timeout_s=timeout_s):
            name = next(name for name, p in group.items() if p == pid)
            print(f"{name} (pid {pid}) did not stop within {timeout_s:.0f}s of SIGTERM: killed", file=sys.stderr)
    for app in apps:
        if app.proc is not None:
            app.proc.poll()  # reap our own child
    return running


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """True when GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - loopback URL we built
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False
