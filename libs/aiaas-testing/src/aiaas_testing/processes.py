"""Real services started as OS processes by tests, stopped (or killed) by the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from aiaas import clock

__all__ = ["ServiceProcess"]


class ServiceProcess:
    """A real service started as an OS process for a test, stopped (or killed) by the test."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str],
        log_path: Path,
        ready_url: str | None = None,
        inherit_env: bool = True,
    ) -> None:
        self.args = [sys.executable, *args]
        # `inherit_env=False`: exactly `env` (a process whose DSNs must be only its roles', aiaas.roles),
        # plus the run's clock offset: every process of a test reads the same (possibly shifted) clock.
        self.env = {**os.environ, **env} if inherit_env else {clock.OFFSET_ENV: repr(clock.offset_s()), **env}
        self.log_path = log_path
        self.ready_url = ready_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - test helper starting our own services
        if self.ready_url:
            try:
                self._wait_ready(self.ready_url, timeout_s)
            except BaseException:
                self.stop()  # never ready: no caller holds it to stop it later
                raise
        return self

    def _wait_ready(self, ready_url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} exited early; log:\n{self.tail()}")
            try:
                with urllib.request.urlopen(ready_url, timeout=1) as resp:  # noqa: S310  # nosec B310 - test-local URL
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            time.sleep(0.1)
        raise RuntimeError(f"{self.args} not ready in {timeout_s}s; log:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
