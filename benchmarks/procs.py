"""Child processes for the benchmark: free ports, CPU pinning, readiness waits, guaranteed cleanup."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiaas.roles import PROCESS_ROLES, process_env
from aiaas_testing import free_port

__all__ = ["LOAD_CORE", "SERVER_CORE", "ProcessSet", "free_port", "pin_self", "require_tools", "wait_http"]

# The load generator (and this orchestrator) runs on core 0, the server under test on core 1.
LOAD_CORE = 0
SERVER_CORE = 1


def pin_self(core: int = LOAD_CORE) -> None:
    """Pin this process (and so every child not pinned elsewhere) to one core."""
    os.sched_setaffinity(0, {core})


def require_tools() -> None:
    """Install nginx and wrk with apt-get when missing; fail with a clear message otherwise."""
    missing = [name for name in ("nginx", "wrk") if not _which(name)]
    if not missing:
        return
    print(
        f"[bench] {', '.join(missing)} missing: installing with apt-get (Debian packages nginx, wrk)",
        flush=True,
    )
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"[bench] could not install nginx/wrk ({exc}); run: apt-get install -y nginx wrk") from exc
    still = [name for name in ("nginx", "wrk") if not _which(name)]
    if still:
        raise SystemExit(f"[bench] still missing after apt-get: {', '.join(still)}")
    if not shutil.which("taskset"):
        raise SystemExit("[bench] taskset missing: apt-get install -y util-linux")


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def wait_http(url: str, timeout_s: float = 60.0, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll `url` until it answers 2xx; raise with the child's log tail if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
        except (OSError, urllib.error.URLError) as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s:.0f}s ({last})\n{_tail(log)}")


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class ProcessSet:
    """Starts pinned children and stops every one of them, in reverse order, on `close()`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[tuple[str, subprocess.Popen]] = []

    def start(
        self,
        name: str,
        argv: list[str],
        core: int | None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> tuple[subprocess.Popen, Path]:
        """Run `argv` under `taskset -c core` (taskset execs, so the pid is the program's own); None: unpinned.

        A platform process (`name` in aiaas.roles, `-` for `_`) gets only its roles' database URLs, as in
        `make dev`; other programs (nginx, the pass-through proxy) get `env` as given.
        """
        role = name.replace("-", "_")
        if env is not None and role in PROCESS_ROLES:
            env = process_env(role, env)
        log = self.log_dir / f"{name}.log"
        handle = log.open("ab")
        pin = ["taskset", "-c", str(core)] if core is not None else []
        proc = subprocess.Popen(
            [*pin, *argv],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        handle.close()
        self._procs.append((name, proc))
        return proc, log

    def stop(self, proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
        """SIGTERM the child's process group, SIGKILL after `timeout_s`."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        self._procs = [(n, p) for n, p in self._procs if p is not proc]

    def close(self) -> None:
        for _name, proc in reversed(list(self._procs)):
            self.stop(proc)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
