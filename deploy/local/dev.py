"""`make dev`: infrastructure, database, demo tenant, then the platform's services in the foreground.

    .venv/bin/python deploy/local/dev.py        # run until Ctrl-C (or a service dies)
    .venv/bin/python deploy/local/dev.py down   # stop services and infrastructure (`make down`)

Infrastructure that this run started is stopped on exit; infrastructure it found running is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from local_infra import stack
from local_infra.apps import AppProcess, app_processes, check_free, http_ok, stop_apps
from local_infra.config import ROOT, Component, InfraError, LocalConfig, mask_url
from local_infra.demo import upload_files
from local_infra.processes import log_tail

from aiaas.roles import process_env

APP_READY_TIMEOUT_S = 90.0
MODEL = "gpt-4o-mini"
# The Stripe stand-in signs webhooks with this secret and billing verifies them with it (local only).
LOCAL_WEBHOOK_SECRET = "whsec_local_dev"
# Each HTTP service's Prometheus listener (its tenant-facing port has no /metrics); set one to 0 to turn it off.
# The workers keep theirs: usage writer 9101, billing meter 9102, analytics consumer 9103.
METRICS_PORTS = {
    "GATEWAY_METRICS_PORT": "9110",
    "BILLING_METRICS_PORT": "9112",
    "ANALYTICS_METRICS_PORT": "9113",
    "CONTROL_PLANE_METRICS_PORT": "9114",
    "REALTIME_METRICS_PORT": "9115",
    "BILLING_ADMIN_METRICS_PORT": "9116",
    "ANALYTICS_ADMIN_METRICS_PORT": "9117",
    "ROUTER_METRICS_PORT": "9118",
    "ROUTER_ADMIN_METRICS_PORT": "9119",
}
# The gateway asks the router for `model: "auto"` with this named admin key (the router's ROUTER_SERVICE_KEY_NAMES).
GATEWAY_SERVICE_KEY_NAME = "gateway"
# The orchestrator's worker calls the gateway and ingestion for its runs' tenants with this one (their
# GATEWAY_SERVICE_KEY_NAMES / INGESTION_SERVICE_KEY_NAMES).
ORCHESTRATOR_SERVICE_KEY_NAME = "orchestrator"
# The demo tenant's knowledge base: the help centre the ingestion tests use (Markdown, HTML, PDF).
DEMO_KB_DIR = ROOT / "services/ingestion/tests/fixtures/help_centre"


class _Stop(Exception):
    """Leaves the foreground loop: Ctrl-C/SIGTERM, or `make down` from another shell."""


def _say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def _data_plane(env: dict[str, str], *args: str, capture: bool = False) -> str:
    """Run `python -m data_plane ARGS`; its stdout when `capture`; InfraError when it fails."""
    _say(f"python -m data_plane {' '.join(args)}")
    result = subprocess.run(
        [sys.executable, "-m", "data_plane", *args],
        env=env,
        cwd=ROOT,
        check=False,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    if result.returncode != 0:
        raise InfraError(f"`python -m data_plane {' '.join(args)}` failed with exit code {result.returncode}.")
    return result.stdout or ""


# The named platform-admin key `make dev` keeps for the developer (audits show this name).
DEV_ADMIN_KEY_NAME = "dev-admin"


def _admin_key(cfg: LocalConfig, env: dict[str, str], name: str = DEV_ADMIN_KEY_NAME) -> str:
    """The admin key `name` kept in .local (`admin-key` for dev-admin): reused while it still resolves, else
    issued anew (`python -m data_plane admin-keys ensure`, as the database owner)."""
    key_file = str(cfg.local_dir / ("admin-key" if name == DEV_ADMIN_KEY_NAME else f"{name}-service-key"))
    out = _data_plane(
        env,
        "admin-keys",
        "ensure",
        name,
        "--key-file",
        key_file,
        "--created-by",
        "make dev",
        capture=True,
    )
    keys = [line.strip() for line in out.splitlines() if line.strip().startswith("sk-admin-")]
    if not keys:
        raise InfraError(f"`data_plane admin-keys ensure` printed no admin key:\n{out}")
    return keys[-1]


def _seed(cfg: LocalConfig, env: dict[str, str]) -> dict[str, str]:
    key_file = str(cfg.local_dir / "demo-api-key")
    out = _data_plane(env, "seed", "--print-json", "--key-file", key_file, capture=True)
    lines = [line for line in out.splitlines() if line.strip().startswith("{")]
    try:
        seeded = json.loads(lines[-1])
        return {"tenant_id": str(seeded["tenant_id"]), "api_key": str(seeded["api_key"])}
    except (IndexError, ValueError, KeyError) as exc:
        raise InfraError(f"`data_plane seed --print-json` printed no JSON with tenant_id and api_key:\n{out}") from exc


def _wait_for_gateway(cfg: LocalConfig, apps: list[AppProcess]) -> None:
    url = f"http://127.0.0.1:{cfg.gateway_port}/health/ready"
    deadline = time.monotonic() + APP_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        _raise_if_any_died(cfg, apps)
        if http_ok(url):
            return
        time.sleep(0.2)
    raise InfraError(
        f"{url} did not answer 200 within {APP_READY_TIMEOUT_S:.0f}s. "
        f"Last lines of {cfg.logfile('gateway')}:\n{log_tail(cfg.logfile('gateway'))}"
    )


def _register_stripe_webhook(cfg: LocalConfig, apps: list[AppProcess], env: dict[str, str]) -> None:
    """Point the Stripe stand-in's webhooks at billing's admin listener (only when billing talks to the stand-in)."""
    sim = f"http://127.0.0.1:{cfg.stripe_sim_port}"
    if env["STRIPE_API_BASE"] != sim:
        return
    deadline = time.monotonic() + APP_READY_TIMEOUT_S
    billing_admin = f"http://127.0.0.1:{cfg.billing_admin_port}"
    while not (http_ok(f"{sim}/health") and http_ok(f"{billing_admin}/health/ready")):
        _raise_if_any_died(cfg, apps)
        if time.monotonic() > deadline:
            raise InfraError(f"the Stripe stand-in or billing did not get ready; see {cfg.log_dir}")
        time.sleep(0.2)
    # Stripe's webhooks go to the billing admin listener, the billing process that may cross tenants.
    body = {"url": f"{billing_admin}/webhooks/stripe", "secret": env["STRIPE_WEBHOOK_SECRET"]}
    request = urllib.request.Request(  # noqa: S310 - loopback URL we built
        f"{sim}/_sim/webhook_endpoints",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310  # nosec B310
        resp.read()


def _raise_if_any_died(cfg: LocalConfig, apps: list[AppProcess]) -> None:
    for app in apps:
        code = app.exit_code()
        if code is not None and app.stop_requested(cfg):
            raise _Stop(f"{app.name} stopped by `make down`")
        if code is not None:
            raise InfraError(
                f"{app.name} exited with code {code}. Last lines of {cfg.logfile(app.name)}:\n"
                f"{log_tail(cfg.logfile(app.name))}"
            )


def _smoke_request(cfg: LocalConfig, api_key: str) -> str:
    """One real chat completion through the gateway: the reply text, or why it failed."""
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URL we built
        f"http://127.0.0.1:{cfg.gateway_port}/v1/chat/completions",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            reply = json.loads(resp.read())
        return f"ok: {reply['choices'][0]['message']['content'][:60]!r}"
    except urllib.error.HTTPError as exc:
        return f"FAILED with HTTP {exc.code}: {exc.read()[:300]!r}"
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError) as exc:
        return f"FAILED: {exc}"


def _metrics_urls(env: dict[str, str]) -> str:
    """`name :port` of every metrics listener that is on, for the banner."""
    on = [
        (name.removesuffix("_METRICS_PORT").lower(), env[name]) for name in METRICS_PORTS if env[name] not in ("", "0")
    ]
    return "  ".join(f"{name} :{port}" for name, port in on) or "all off"


def _demo_knowledge_base(cfg: LocalConfig, apps: list[AppProcess], api_key: str) -> str:
    """The demo help centre uploaded to the demo tenant's knowledge base once ingestion answers: what happened."""
    base = f"http://127.0.0.1:{cfg.ingestion_port}"
    deadline = time.monotonic() + APP_READY_TIMEOUT_S
    while not http_ok(f"{base}/health/ready"):
        _raise_if_any_died(cfg, apps)
        if time.monotonic() > deadline:
            return f"ingestion not ready within {APP_READY_TIMEOUT_S:.0f}s"
        time.sleep(0.2)
    return upload_files(base, api_key, DEMO_KB_DIR)


def _banner(
    cfg: LocalConfig, infra: list[Component], apps: list[AppProcess], seeded: dict[str, str], metrics: str
) -> str:
    base, key = f"http://127.0.0.1:{cfg.gateway_port}/v1", seeded["api_key"]
    rows = [f"  {c.name:13} {c.origin:10} {mask_url(c.url)}" for c in infra]
    rows += [f"  {a.name:13} pid {a.proc.pid if a.proc else '?':<6} log {cfg.logfile(a.name)}" for a in apps]
    chat = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]})
    today = datetime.now(UTC).date()
    return "\n".join(
        [
            "",
            "The platform is running. Ctrl-C stops it (or `make down` from another shell).",
            *rows,
            "",
            f"Demo tenant {seeded['tenant_id']}",
            f"API key: {key}",
            f"Platform-admin key (for /admin): {seeded['admin_key']}",
            "",
            f"Tenant admin (control plane): http://127.0.0.1:{cfg.control_plane_port}/admin/tenants   (tenants, keys)",
            f"  curl -s http://127.0.0.1:{cfg.control_plane_port}/admin/tenants/{seeded['tenant_id']}/keys"
            f" -H 'Authorization: Bearer {seeded['admin_key']}'",
            f"Billing admin:   http://127.0.0.1:{cfg.billing_admin_port}   (plans, subscriptions, close-periods,"
            " Stripe webhooks)",
            f"  curl -s http://127.0.0.1:{cfg.billing_admin_port}/admin/billing/plans"
            f" -H 'Authorization: Bearer {seeded['admin_key']}'",
            f"Analytics admin: http://127.0.0.1:{cfg.analytics_admin_port}   (KPIs across tenants)",
            f"  curl -s 'http://127.0.0.1:{cfg.analytics_admin_port}/admin/analytics/kpis?granularity=day"
            f"&start={today - timedelta(days=1):%Y-%m-%d}&end={today + timedelta(days=1):%Y-%m-%d}'"
            f" -H 'Authorization: Bearer {seeded['admin_key']}'",
            "",
            f"Billing API:   http://127.0.0.1:{cfg.billing_port}   (plans, usage, invoice preview, balance)",
            f"  curl -s http://127.0.0.1:{cfg.billing_port}/v1/billing/invoice/preview"
            f" -H 'Authorization: Bearer {key}'",
            "Top-up (paid through Stripe Checkout; credited when Stripe's signed webhook says it was paid):",
            f"  curl -s -XPOST http://127.0.0.1:{cfg.billing_port}/v1/billing/balance/top-ups"
            f" -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json'"
            ' -H "Idempotency-Key: demo-$(date +%s)"'
            """ -d '{"amount_minor": 5000}'""",
            "  pay its checkout_session_id on the Stripe stand-in (what the customer does at checkout_url):",
            f"  curl -s -XPOST http://127.0.0.1:{cfg.stripe_sim_port}/_sim/checkout/sessions/<checkout_session_id>/complete"
            """ -H 'Content-Type: application/json' -d '{"outcome": "paid"}'""",
            f"Analytics API: http://127.0.0.1:{cfg.analytics_port}   (KPIs per tenant)",
            f"  curl -s 'http://127.0.0.1:{cfg.analytics_port}/v1/analytics/kpis?granularity=hour"
            f"&start={today - timedelta(days=1):%Y-%m-%d}&end={today + timedelta(days=1):%Y-%m-%d}'"
            f" -H 'Authorization: Bearer {key}'",
            "",
            f"Control plane: http://127.0.0.1:{cfg.control_plane_port}   (feature flags, registries; admin key)",
            f"  CONTROL_PLANE_URL=http://127.0.0.1:{cfg.control_plane_port} CONTROL_PLANE_ADMIN_KEY=<admin key>"
            " .venv/bin/python -m control_plane flags list",
            "",
            f"Realtime:      ws://127.0.0.1:{cfg.realtime_port}/v1/realtime/ws"
            "   (WebSocket chat; protocol in services/realtime/README.md)",
            "  a single-use ticket for a browser (its `url` opens one socket within 60 s):",
            f"  curl -s -XPOST http://127.0.0.1:{cfg.realtime_port}/v1/realtime/sessions"
            f" -H 'Authorization: Bearer {key}'",
            "",
            f'Router:        http://127.0.0.1:{cfg.router_port}   (the tier for `model: "auto"`; versions and canary'
            f" on :{cfg.router_admin_port})",
            f"  curl -s http://127.0.0.1:{cfg.router_port}/v1/router/decide -H 'Authorization: Bearer {key}' "
            """-H 'Content-Type: application/json' -d '{"messages": [{"role": "user", "content": "What is 7*6?"}]}'""",
            "",
            f"Knowledge base: http://127.0.0.1:{cfg.ingestion_port}   (the demo help centre is uploaded)",
            f"  curl -s http://127.0.0.1:{cfg.ingestion_port}/v1/ingestion/search -H 'Authorization: Bearer {key}' "
            """-H 'Content-Type: application/json' -d '{"query": "How long do refunds take?", "top_k": 3}'""",
            f"Orchestrator:  http://127.0.0.1:{cfg.orchestrator_port}   (FAQ, Order, Lead runs; then GET"
            " /v1/orchestrator/runs/<run_id>)",
            f"  curl -s http://127.0.0.1:{cfg.orchestrator_port}/v1/orchestrator/runs -H 'Authorization: Bearer {key}' "
            """-H 'Content-Type: application/json' -d '{"agent": "faq", "input": {"question": "How long do refunds"""
            """ take?"}, "idempotency_key": "demo-faq-1", "wait": 30}'""",
            "",
            f"Prometheus metrics (not tenant-facing; http://127.0.0.1:PORT/metrics): {metrics}",
            "",
            "curl:",
            f"  curl -s {base}/chat/completions \\",
            f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\",
            f"    -d '{chat}'",
            "",
            "Python (pip install openai):",
            "  from openai import OpenAI",
            f'  client = OpenAI(base_url="{base}", api_key="{key}")',
            '  messages = [{"role": "user", "content": "Hello"}]',
            f'  reply = client.chat.completions.create(model="{MODEL}", messages=messages)',
            "  print(reply.choices[0].message.content)",
            f'  stream = client.chat.completions.create(model="{MODEL}", messages=messages, stream=True)',
            "  for chunk in stream:",
            "      if chunk.choices:",
            '          print(chunk.choices[0].delta.content or "", end="", flush=True)',
            "",
        ]
    )


def _on_signal(signum: int, _frame: object) -> None:
    raise _Stop(f"{signal.Signals(signum).name} received")


def _record(infra: list[Component], component: Component) -> None:
    """Note each component as it becomes ready, so a Ctrl-C midway still stops the ones this run started."""
    infra.append(component)
    _say(f"{component.name}: {component.origin} {mask_url(component.url)}")


def run(cfg: LocalConfig) -> int:
    """Bring everything up, stay in the foreground, stop what this run started on exit."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    infra: list[Component] = []
    apps = app_processes(cfg)
    code = 0
    try:
        check_free(cfg, apps)
        stack.up(cfg, on_ready=lambda component: _record(infra, component))
        env = {
            **METRICS_PORTS,
            **os.environ,
            **stack.env_vars(cfg),
            "GATEWAY_PROVIDER_SIM_URL": f"http://127.0.0.1:{cfg.provider_sim_port}",
            # Billing talks to the Stripe stand-in unless real Stripe settings are given.
            "STRIPE_API_KEY": os.environ.get("STRIPE_API_KEY", "sk_test_local"),
            "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", f"http://127.0.0.1:{cfg.stripe_sim_port}"),
            "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET", LOCAL_WEBHOOK_SECRET),
            "REALTIME_GATEWAY_URL": f"http://127.0.0.1:{cfg.gateway_port}",
            # Local runs may send quota alerts to a receiver on this machine (refused in production).
            "BILLING_ALERT_ALLOW_INTERNAL_URLS": os.environ.get("BILLING_ALERT_ALLOW_INTERNAL_URLS", "true"),
        }
        _data_plane(env, "bootstrap")
        _data_plane(env, "migrate")
        seeded = {**_seed(cfg, env), "admin_key": _admin_key(cfg, env)}
        env["GATEWAY_ROUTER_URL"] = f"http://127.0.0.1:{cfg.router_port}"
        env["GATEWAY_ROUTER_SERVICE_TOKEN"] = _admin_key(cfg, env, GATEWAY_SERVICE_KEY_NAME)
        env["ORCH_SERVICE_KEY"] = _admin_key(cfg, env, ORCHESTRATOR_SERVICE_KEY_NAME)
        env["ORCH_GATEWAY_URL"] = f"http://127.0.0.1:{cfg.gateway_port}"
        env["ORCH_TOOLBOX_URL"] = f"http://127.0.0.1:{cfg.toolbox_port}"
        env["ORCH_INGESTION_URL"] = f"http://127.0.0.1:{cfg.ingestion_port}"
        for app in apps:
            _say(f"starting {' '.join(app.command()[1:])}")
            # Each process gets only its roles' database URLs (aiaas.roles.PROCESS_ROLES).
            app.start(cfg, process_env(app.name, env))
        _wait_for_gateway(cfg, apps)
        _register_stripe_webhook(cfg, apps, env)
        print(_banner(cfg, infra, apps, seeded, _metrics_urls(env)), flush=True)
        _say(f"test request through the gateway: {_smoke_request(cfg, seeded['api_key'])}")
        _say(f"demo knowledge base: {_demo_knowledge_base(cfg, apps, seeded['api_key'])}")
        while True:
            _raise_if_any_died(cfg, apps)
            time.sleep(0.5)
    except _Stop as stop:
        _say(f"stopping: {stop}")
    except InfraError as exc:
        _say(f"error: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # finish cleaning up even on a second Ctrl-C
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        started = [app for app in apps if app.proc is not None]
        for name, pid in stop_apps(cfg, started).items():
            _say(f"stopped {name} (pid {pid})")
        ours = [c.name for c in infra if c.started]
        if ours:
            stack.down(cfg, ours)
            _say(f"stopped infrastructure this run started: {', '.join(ours)}")
        elif infra:
            _say("left running the infrastructure this run reused")
    return code


def down(cfg: LocalConfig) -> int:
    """Stop the services of any `make dev` (pid files), then the project-local infrastructure."""
    for name, pid in stop_apps(cfg, app_processes(cfg)).items():
        _say(f"stopped {name} (pid {pid})")
    for name, infra_pid in stack.down(cfg).items():
        _say(f"{name}: {'stopped pid ' + str(infra_pid) if infra_pid else 'was not running'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["run", "down"], default="run")
    args = parser.parse_args(argv)
    try:
        cfg = LocalConfig.from_env()
    except InfraError as exc:
        _say(f"error: {exc}")
        return 1
    return down(cfg) if args.command == "down" else run(cfg)


if __name__ == "__main__":
    sys.exit(main())
