"""A webhook endpoint configured by environment (how compose points the stand-in at billing's admin listener)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from aiaas_testing import ServiceProcess, free_port


def test_webhook_url_in_the_env_is_registered_at_start(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    target = "http://billing-admin:8086/webhooks/stripe"
    process = ServiceProcess(
        ["-m", "stripe_sim", "--host", "127.0.0.1", "--port", str(port)],
        env={"STRIPE_SIM_WEBHOOK_URL": target, "STRIPE_SIM_WEBHOOK_SECRET": "whsec_compose"},
        log_path=tmp_path / "server.log",
        ready_url=f"{url}/health",
    ).start(timeout_s=20)
    try:
        with urllib.request.urlopen(f"{url}/_sim/webhook_endpoints", timeout=5) as response:  # noqa: S310
            endpoints = json.loads(response.read())["endpoints"]
    finally:
        process.stop()
    assert [(e["url"], e["enabled_events"]) for e in endpoints] == [(target, ["*"])]
