"""Private NATS and Redis servers (and free ports) for tests that stop, kill or restart a broker.

Each runs as a child process on a free loopback port and is ready once it answers its own protocol's
greeting on a plain socket.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

__all__ = ["NatsServer", "RedisServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _LocalServer:
    """A server process on 127.0.0.1:`port`, started and probed the same way for every kind."""

    name = "server"

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        self.log_dir = log_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise TypeError(f"{type(self).__name__} must say how it starts")

    def answers(self, sock: socket.socket) -> bool:
        raise TypeError(f"{type(self).__name__} must say when it is ready")

    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.port}.log"

    def start(self, timeout_s: float = 10.0) -> Self:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path().open("ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own test servers
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if self.answers(sock):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} on {self.port} did not start")


class NatsServer(_LocalServer):
    """A private NATS+JetStream server (its store in `log_dir`) for tests that stop and restart the broker."""

    name = "nats"

    @property
    def store_dir(self) -> Path:
        return self.log_dir

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        candidate = Path(sys.executable).parent / "nats-server"
        return str(candidate) if candidate.exists() else "nats-server"

    def command(self) -> list[str]:
        return [self.binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)]

    def log_path(self) -> Path:
        return self.store_dir / "nats.log"

    def answers(self, sock: socket.socket) -> bool:
        return sock.recv(4).startswith(b"INFO")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class RedisServer(_LocalServer):
    """A private Redis without persistence (as in compose) for tests that restart it empty."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        return [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    def answers(self, sock: socket.socket) -> bool:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        """SIGKILL: nothing is saved (there is no persistence anyway), as a crashed Redis."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart_empty(self) -> None:
        """Kill the server and start a new one, empty, on the same port."""
        self.stop()
        self.start()
