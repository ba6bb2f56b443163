"""The workers without an HTTP API serve a metrics listener: what their container health checks probe."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from aiaas_testing import ServiceProcess, free_port


@pytest.mark.parametrize(
    ("module", "port_var", "extra"),
    [
        ("gateway.outbox_relay", "GATEWAY_OUTBOX_RELAY_METRICS_PORT", {}),
        (
            "billing.stripe.consumers",
            "STRIPE_METRICS_PORT",
            {"STRIPE_API_KEY": "", "STRIPE_API_BASE": "http://127.0.0.1:9"},
        ),
    ],
)
def test_worker_serves_metrics_on_its_own_port(tmp_path: Path, module: str, port_var: str, extra: dict) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    process = ServiceProcess(
        ["-m", module],
        env={port_var: str(port), "GATEWAY_METRICS_PORT": "0", **extra},
        log_path=tmp_path / "worker.log",
        ready_url=url,
    ).start(timeout_s=30)
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            body = response.read().decode()
        assert response.status == 200
        assert "process_cpu_seconds_total" in body or "python_info" in body
    finally:
        process.stop()
