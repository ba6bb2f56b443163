"""Detached processes with pid files: start, recognise after a restart, wait for, stop."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from local_infra.config import InfraError

__all__ = [
    "describe_port_owner",
    "log_tail",
    "port_open",
    "read_pid",
    "running_pid",
    "spawn_detached",
    "start_and_wait",
    "stop_process",
    "stop_processes",
    "wait_ready",
]


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file, indented, for error messages."""
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return f"    (no log at {path})"
    return "\n".join(f"    {line}" for line in text) or f"    ({path} is empty)"


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def describe_port_owner(port: int) -> str:
    """Best-effort 'pid N (command line)' of the process listening on `port`."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return "an unknown process (not allowed to list sockets)"
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                cmdline = " ".join(" ".join(psutil.Process(conn.pid).cmdline()).split())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                cmdline = "?"
            return f"pid {conn.pid} ({cmdline[:160]})"
    return "an unknown process"


def read_pid(pidfile: Path) -> int | None:
    """The pid on the first line of a pid file, or None when there is none."""
    try:
        return int(pidfile.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def running_pid(pidfile: Path, marker: str, *, remove_stale: bool = True) -> int | None:
    """The pid from `pidfile` if that process is alive and its command line contains `marker`.

    A pid file whose process is gone, or whose pid now belongs to another program,
    is stale: it is removed and None is returned.
    """
    pid = read_pid(pidfile)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        alive = proc.status() != psutil.STATUS_ZOMBIE and marker in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        alive = False
    if not alive and remove_stale:
        pidfile.unlink(missing_ok=True)
    return pid if alive else None


def spawn_detached(
    args: Sequence[str],
    *,
    log: Path,
    pidfile: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `args` in its own session, output appended to `log`, pid written to `pidfile`.

    With `user`, the process runs as that system user and its primary group.
    """
    account = pwd.getpwnam(user) if user else None
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(args)}\n".encode())
        out.flush()
        proc = subprocess.Popen(  # noqa: S603 - fixed argument lists built by this package
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=cwd,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
    pidfile.write_text(f"{proc.pid}\n")
    return proc


def wait_ready(
    check: Callable[[], bool],
    *,
    what: str,
    log: Path,
    timeout_s: float,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll `check` until it is true; fail with the log tail on timeout or when `proc` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise InfraError(
                f"{what} exited with code {proc.returncode} while starting. Last lines of {log}:\n{log_tail(log)}"
            )
        time.sleep(0.1)
    raise InfraError(f"{what} was not ready after {timeout_s:.0f}s. Last lines of {log}:\n{log_tail(log)}")


def start_and_wait(
    args: Sequence[str],
    check: Callable[[], bool],
    *,
    what: str,
    log: Path,
    pidfile: Path,
    timeout_s: float,
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
) -> int:
    """Start a detached server and wait until `check` passes; on failure stop it, drop its pid file, raise."""
    proc = spawn_detached(args, log=log, pidfile=pidfile, cwd=cwd, user=user)
    try:
        wait_ready(check, what=what, log=log, timeout_s=timeout_s, proc=proc)
    except InfraError:
        stop_processes([proc.pid], sig=stop_signal, timeout_s=10)
        proc.poll()
        pidfile.unlink(missing_ok=True)
        raise
    return proc.pid


def _exited(proc: psutil.Process) -> bool:
    """Gone or a zombie: an orphan's zombie lingers until init reaps it, which can take seconds."""
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    with contextlib.suppress(ChildProcessError):  # reap it now if it is our child; else init will
        os.waitpid(proc.pid, os.WNOHANG)
    return True


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until every process has exited or `timeout_s` passed; the ones still running."""
    deadline = time.monotonic() + timeout_s
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        alive = [proc for proc in alive if not _exited(proc)]
        if alive:
            time.sleep(0.05)
    return alive


def stop_process(pid: int, *, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
    """Send `sig` to `pid`, wait for it to exit, SIGKILL it after `timeout_s`."""
    stop_processes([pid], sig=sig, timeout_s=timeout_s)


def stop_processes(pids: Sequence[int], *, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> list[int]:
    """Signal all `pids` at once and wait up to `timeout_s`; SIGKILL and return the ones still running."""
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            continue
        procs.append(proc)
    alive = _wait_gone(procs, timeout_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    _wait_gone(alive, 5)
    return [proc.pid for proc in alive]


def stop_pidfile(pidfile: Path, marker: str, *, timeout_s: float = 30.0) -> int | None:
    """Stop the process a pid file names (if it is still `marker`'s) and drop the file; its pid, or None."""
    pid = running_pid(pidfile, marker)
    if pid is not None:
        stop_process(pid, timeout_s=timeout_s)
    pidfile.unlink(missing_ok=True)
    return pid
