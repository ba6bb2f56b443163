"""`make dev` (deploy/local/dev.py): the printed curl and openai snippet work; Ctrl-C stops what it started.

Run against the infrastructure the suite already uses, so this also shows that a
second `make dev` reuses running infrastructure and leaves it running on exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aiaas_testing import free_port

ROOT = Path(__file__).resolve().parent.parent


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _read_banner(proc: subprocess.Popen[str], timeout_s: float = 120) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("dev.py exited early:\n" + "".join(lines))
        lines.append(line.rstrip("\n"))
        if line.startswith("          print(chunk.choices[0].delta.content"):
            return lines
    raise AssertionError("no banner in time:\n" + "\n".join(lines))


def test_make_dev_prints_working_curl_and_sdk_snippet_then_stops_cleanly(infra_urls):
    gateway_port, sim_port = free_port(), free_port()
    billing_port, analytics_port, stripe_port, control_port = free_port(), free_port(), free_port(), free_port()
    realtime_port, billing_admin_port, analytics_admin_port = free_port(), free_port(), free_port()
    router_port, router_admin_port = free_port(), free_port()
    toolbox_port, ingestion_port, orchestrator_port = free_port(), free_port(), free_port()
    gateway_metrics_port = free_port()
    env = {
        **os.environ,
        "AIAAS_GATEWAY_PORT": str(gateway_port),
        "AIAAS_PROVIDER_SIM_PORT": str(sim_port),
        "AIAAS_BILLING_PORT": str(billing_port),
        "AIAAS_ANALYTICS_PORT": str(analytics_port),
        "AIAAS_STRIPE_SIM_PORT": str(stripe_port),
        "AIAAS_CONTROL_PLANE_PORT": str(control_port),
        "AIAAS_REALTIME_PORT": str(realtime_port),
        "AIAAS_BILLING_ADMIN_PORT": str(billing_admin_port),
        "AIAAS_ANALYTICS_ADMIN_PORT": str(analytics_admin_port),
        "AIAAS_ROUTER_PORT": str(router_port),
        "AIAAS_ROUTER_ADMIN_PORT": str(router_admin_port),
        "AIAAS_TOOLBOX_PORT": str(toolbox_port),
        "AIAAS_INGESTION_PORT": str(ingestion_port),
        "AIAAS_ORCHESTRATOR_PORT": str(orchestrator_port),
        "ORCH_WORKER_METRICS_PORT": "0",
        "ROUTER_CONSUMER_METRICS_PORT": "0",
        "INGESTION_CONSUMER_METRICS_PORT": "0",
        # The dev stack's background workers would otherwise take the default metrics ports.
        "GATEWAY_USAGE_WRITER_METRICS_PORT": "0",
        "BILLING_METER_METRICS_PORT": "0",
        "ANALYTICS_CONSUMER_METRICS_PORT": "0",
        # ... and so would the services' metrics listeners: the gateway's on a free port, the others off.
        **{
            f"{name}_METRICS_PORT": "0"
            for name in ("BILLING", "ANALYTICS", "CONTROL_PLANE", "REALTIME", "ROUTER", "INGESTION", "TOOLBOX", "ORCH")
        },
        **{f"{name}_ADMIN_METRICS_PORT": "0" for name in ("BILLING", "ANALYTICS", "ROUTER")},
        "GATEWAY_METRICS_PORT": str(gateway_metrics_port),
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy/local/dev.py")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = _read_banner(proc)
        key = next(line.split(": ", 1)[1] for line in banner if line.startswith("API key: "))
        assert key.startswith("sk-aiaas-")

        admin = next(line.split(": ", 1)[1] for line in banner if line.startswith("Platform-admin key"))

        # The admin lines: the demo tenant's keys on the control plane, plans and KPIs on the admin listeners.
        for marker, expect in (
            ("Tenant admin (control plane):", key[:17]),
            ("Billing admin:", '"free"'),
            ("Analytics admin:", '"tenants"'),
        ):
            curl = banner[banner.index(next(line for line in banner if line.startswith(marker))) + 1].strip()
            out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30).stdout
            assert expect in out, (curl, out)

        # The top-up lines: a pending Checkout Session, paid on the stand-in, then credited by the webhook.
        balance = banner[banner.index(next(line for line in banner if line.startswith("Billing API:"))) + 1]
        balance = balance.replace("/v1/billing/invoice/preview", "/v1/billing/balance").strip()

        def balance_minor() -> int:
            out = subprocess.run(["bash", "-c", balance], capture_output=True, text=True, timeout=30).stdout
            return int(json.loads(out)["balance_minor"])

        before = balance_minor()  # the demo tenant outlives one `make dev`
        top_up = banner.index(next(line for line in banner if line.startswith("Top-up ")))
        created = json.loads(
            subprocess.run(["bash", "-c", banner[top_up + 1]], capture_output=True, text=True, timeout=30).stdout
        )
        assert (created["status"], created["amount_minor"]) == ("pending", 5000), created
        pay = banner[top_up + 3].replace("<checkout_session_id>", created["checkout_session_id"])
        paid = json.loads(subprocess.run(["bash", "-c", pay], capture_output=True, text=True, timeout=30).stdout)
        assert [d["status"] for d in paid["deliveries"]] == [200], paid
        assert balance_minor() == before + 5000

        start = banner.index("curl:") + 1
        curl = " ".join(line.strip().rstrip("\\") for line in banner[start : start + 3])
        out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, check=True, timeout=30).stdout
        assert '"chat.completion"' in out and '"usage"' in out

        # Metrics: on the gateway's own listener (as the banner says), not on its tenant-facing port.
        assert f"gateway :{gateway_metrics_port}" in next(line for line in banner if line.startswith("Prometheus"))
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway_metrics_port}/metrics", timeout=10) as resp:
            assert 'gateway_requests_total{model="gpt-4o-mini",status="success"}' in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as not_there:
            urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/metrics", timeout=10)
        assert not_there.value.code == 404

        start = banner.index("Python (pip install openai):") + 1
        snippet = "\n".join(line[2:] for line in banner[start:])
        result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        reply, streamed = result.stdout.split("\n", 1)
        assert reply.strip() and streamed.strip()
        assert streamed.strip() == reply.strip(), "streaming and non-streaming replies agree"

        # The control plane's CLI line works with the printed admin key.
        line = banner[banner.index(next(line for line in banner if line.startswith("Control plane:"))) + 1]
        cli = line.strip().replace("<admin key>", admin).replace(".venv/bin/python", sys.executable)
        flags = subprocess.run(["bash", "-c", cli], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert flags.returncode == 0 and "streaming_enabled" in flags.stdout, flags.stderr

        # The router's line answers a decision, and `model: "auto"` through the gateway gets the router's tier.
        curl = banner[banner.index(next(line for line in banner if line.startswith("Router:"))) + 1].strip()
        decision = json.loads(subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30).stdout)
        assert decision["tier"] in ("cheap", "strong") and decision["decision_id"] and decision["reason"], decision
        auto = urllib.request.Request(
            f"http://127.0.0.1:{gateway_port}/v1/chat/completions",
            data=json.dumps({"model": "auto", "messages": [{"role": "user", "content": "Hello"}]}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(auto, timeout=30) as resp:
            assert resp.headers["x-router-tier"] and resp.headers["x-router-decision-id"]
            assert json.loads(resp.read())["choices"][0]["message"]["content"]

        # The demo knowledge base is searchable, and a FAQ run answers from it with citations.
        curl = banner[banner.index(next(line for line in banner if line.startswith("Knowledge base:"))) + 1].strip()
        found = json.loads(subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30).stdout)
        assert found["results"] and found["results"][0]["citation"]["filename"], found
        curl = banner[banner.index(next(line for line in banner if line.startswith("Orchestrator:"))) + 1].strip()
        run = json.loads(subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60).stdout)
        assert run["status"] == "succeeded", run
        assert run["output"]["reply"]["citations"], run

        # The billing and analytics lines of the banner work too.
        for marker, expect in (("Billing API:", '"total_minor"'), ("Analytics API:", '"totals"')):
            curl = banner[banner.index(next(line for line in banner if line.startswith(marker))) + 1].strip()
            out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30).stdout
            assert expect in out, (curl, out)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0
    ports = (gateway_port, sim_port, billing_port, analytics_port, stripe_port, control_port, realtime_port)
    for port in (*ports, billing_admin_port, analytics_admin_port, router_port, router_admin_port):
        assert not _port_open(port), port
    local = Path(os.environ.get("AIAAS_LOCAL_DIR", ROOT / ".local"))
    assert not list((local / "run").glob("app-*.pid"))
    # It reused the suite's infrastructure, so it left it running.
    host_port = infra_urls.redis_url.rsplit(":", 1)[1].split("/")[0]
    assert _port_open(int(host_port))
