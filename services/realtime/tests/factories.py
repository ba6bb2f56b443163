"""Helpers the realtime tests import: the shared processes' limits, a started realtime process (fixtures: conftest)."""

from __future__ import annotations

from aiaas_testing import ServiceProcess

# Limits of the shared realtime processes (tests rely on them).
MAX_CONNECTIONS_PER_TENANT = 8
IDLE_TIMEOUT_S = 6.0
MAX_FRAME_BYTES = 32_768
WS_MAX_SIZE = 1_048_576


class Realtime:
    """A running realtime process: its ws:// and http:// base URLs, its metrics listener, the process handle."""

    def __init__(self, proc: ServiceProcess, port: int, metrics_port: int) -> None:
        self.proc = proc
        self.port = port
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/v1/realtime/ws"
        self.metrics = f"http://127.0.0.1:{metrics_port}/metrics"
