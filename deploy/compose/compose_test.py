"""`make compose-test`: the whole docker-compose.yml started for real under podman, used, NATS killed, torn down.

Recipe measured in ../shared/CONTAINERS.md: Debian's podman + docker-compose 1.29 against podman's socket, a
base image made with mmdebstrap passed as BASE_IMAGE, local stand-ins for the Postgres/NATS/Redis images
(local-infra.override.yml), and a loop that runs every container's health check (podman schedules them with
systemd, absent here). Needs root (apt, podman). Leaves nothing running: `down -v` and the podman service
this script started are stopped on every exit path.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orchestrator_check import orchestrator_runs  # noqa: E402

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PROJECT = "aiaasct"
BASE_IMAGE = "localhost/aiaas-base:bookworm-py311"
SOCKET = Path("/run/aiaas-compose-test/podman.sock")
APT_PACKAGES = (
    "podman buildah netavark aardvark-dns iptables fuse-overlayfs slirp4netns uidmap catatonit runc mmdebstrap "
    "docker-compose"
).split()
# Root here cannot raise rlimits, crun 1.8 fails on this cgroup layout, and there is no systemd (CONTAINERS.md).
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
network_backend = "netavark"
"""
# Published ports, away from the project-local infra (55432/54222/56379) and `make dev` (8080-8092, 9101-9117).
PUBLISH = {
    "POSTGRES": 25432, "NATS": 24222, "NATS_MONITOR": 28222, "REDIS": 26379, "PROVIDER_SIM": 28090,
    "GATEWAY": 28080, "STRIPE_SIM": 28092, "BILLING": 28082, "BILLING_ADMIN": 28086, "ANALYTICS": 28083,
    "ANALYTICS_ADMIN": 28087, "CONTROL_PLANE": 28084, "REALTIME": 28085, "TOOLBOX": 28094, "ROUTER": 28088,
    "ROUTER_ADMIN": 28089, "INGESTION": 28095, "ORCHESTRATOR": 28096,
}  # fmt: skip
MODEL = "gpt-4o-mini"
HEALTHY_TIMEOUT_S = 300.0


def log(message: str) -> None:
    print(f"[compose-test {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def run(*args: str, check: bool = True, capture: bool = False, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, check=False, text=True, capture_output=capture, env=env)  # noqa: S603
    if check and result.returncode != 0:
        detail = (result.stdout or "") + (result.stderr or "") if capture else ""
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}\n{detail[-3000:]}")
    return result.stdout or ""


def install() -> None:
    """apt packages and containers.conf, each only when missing or different."""
    if os.geteuid() != 0:
        raise SystemExit("compose-test needs root (apt, podman)")
    if not all(shutil.which(tool) for tool in ("podman", "docker-compose", "mmdebstrap", "runc")):
        log(f"installing {' '.join(APT_PACKAGES)}")
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES)
    conf = Path("/etc/containers/containers.conf")
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF)


def start_podman_service() -> subprocess.Popen[bytes]:
    """podman's Docker-compatible API on a socket of our own, for docker-compose."""
    SOCKET.parent.mkdir(parents=True, exist_ok=True)
    SOCKET.unlink(missing_ok=True)
    logfile = (SOCKET.parent / "service.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603
        ["podman", "system", "service", "--time=0", f"unix://{SOCKET}"], stdout=logfile, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while not SOCKET.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"podman system service did not start; see {SOCKET.parent / 'service.log'}")
        time.sleep(0.1)
    return proc


def compose_env() -> dict[str, str]:
    env = dict(os.environ, DOCKER_HOST=f"unix://{SOCKET}", BUILDAH_FORMAT="docker", BASE_IMAGE=BASE_IMAGE)
    env["COMPOSE_PROJECT_NAME"] = PROJECT
    env.update({f"PUBLISH_{name}": str(port) for name, port in PUBLISH.items()})
    return env


def compose(*args: str, capture: bool = False, check: bool = True) -> str:
    files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(HERE / "local-infra.override.yml")]
    return run("docker-compose", "--project-directory", str(ROOT), *files, *args, capture=capture, check=check,
               env=compose_env())  # fmt: skip


def ports_free() -> None:
    busy = []
    for name, port in PUBLISH.items():
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(f"{name}={port}")
    if busy:
        raise SystemExit(f"ports in use, cannot publish: {', '.join(busy)}")


def containers() -> list[dict[str, Any]]:
    out = run("podman", "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "--format", "json",
              capture=True)  # fmt: skip
    listed: list[dict[str, Any]] = json.loads(out or "[]")
    return listed


def service_of(container: dict[str, Any]) -> str:
    return str(container.get("Labels", {}).get("com.docker.compose.service", container["Names"][0]))


class HealthLoop:
    """Runs `podman healthcheck run` on every running container every ~2 s; remembers when each turned healthy."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.healthy_at: dict[str, float] = {}
        self.has_check: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for container in containers():
                if container.get("State") != "running":
                    continue
                name = service_of(container)
                result = subprocess.run(  # noqa: S603
                    ["podman", "healthcheck", "run", container["Id"]], capture_output=True, text=True, check=False
                )
                if "no defined healthcheck" in (result.stderr + result.stdout).lower():
                    continue
                self.has_check.add(name)
                if result.returncode == 0 and name not in self.healthy_at:
                    self.healthy_at[name] = time.monotonic() - self.started
            self._stop.wait(2.0)


def wait_all_healthy(loop: HealthLoop, up: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Every service container running and healthy (migrate: exited 0); returns the container list."""
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    while True:
        listed = {service_of(c): c for c in containers()}
        pending = []
        for name, container in listed.items():
            if name == "migrate":
                if container.get("State") != "exited" or container.get("ExitCode") != 0:
                    pending.append(f"{name}({container.get('State')}, exit {container.get('ExitCode')})")
            elif container.get("State") != "running" or name not in loop.healthy_at:
                pending.append(f"{name}({container.get('State')})")
        if listed and not pending and up.poll() is not None:
            if up.returncode != 0:
                raise RuntimeError(f"docker-compose up exited {up.returncode}")
            return listed
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"not healthy after {HEALTHY_TIMEOUT_S:.0f}s: {', '.join(pending) or 'up still running'}"
            )
        time.sleep(1.0)


def http_json(method: str, url: str, key: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our own loopback URL
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def admin_key() -> str:
    """The `compose-admin` key the migrate job keeps on the admin-key volume."""
    mount = run("podman", "volume", "inspect", f"{PROJECT}_admin-key", "--format", "{{.Mountpoint}}", capture=True)
    return (Path(mount.strip()) / "admin-key").read_text().strip()


def make_tenant(admin: str) -> tuple[str, str]:
    base = f"http://127.0.0.1:{PUBLISH['CONTROL_PLANE']}/admin/tenants"
    slug = f"compose-{uuid.uuid4().hex[:8]}"
    tenant = http_json("POST", base, admin, {"name": slug, "slug": slug})
    scopes = ["chat", "billing:read", "analytics:read"]
    key = http_json("POST", f"{base}/{tenant['id']}/keys", admin, {"name": "compose-test", "scopes": scopes})
    return tenant["id"], key["key"]


def chat(key: str, count: int, label: str) -> list[str]:
    """`count` chat completions through the gateway container with the openai SDK; their request ids."""
    from openai import OpenAI
    from openai.types.chat import ChatCompletionMessageParam

    client = OpenAI(base_url=f"http://127.0.0.1:{PUBLISH['GATEWAY']}/v1", api_key=key, max_retries=0, timeout=30)
    ids = []
    for i in range(count):
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": f"{label} {i}"}]
        if i % 2 == 1:
            streamed = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, stream=True)
            assert list(streamed.parse()), "an empty stream"
            ids.append(streamed.headers.get("x-request-id", ""))
        else:
            raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages)
            assert raw.parse().choices[0].message.content, "an empty completion"
            ids.append(raw.headers.get("x-request-id", ""))
    return ids


def auto_chat(key: str) -> tuple[str, str, str]:
    """One `model: "auto"` completion: (x-router-tier, x-router-decision-id, the model that answered).

    The gateway asks the router with the `gateway` admin key the migrate job keeps on the router-key volume; a
    decision of the router has a UUID id, the gateway's fallback table's starts `gw-`.
    """
    from openai import OpenAI

    client = OpenAI(base_url=f"http://127.0.0.1:{PUBLISH['GATEWAY']}/v1", api_key=key, max_retries=0, timeout=30)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content, "an empty completion"
    return raw.headers.get("x-router-tier", ""), raw.headers.get("x-router-decision-id", ""), completion.model


def billing_requests(key: str) -> int:
    usage = http_json("GET", f"http://127.0.0.1:{PUBLISH['BILLING']}/v1/billing/usage", key)
    return int(usage["totals"]["requests"])


def analytics_requests(key: str) -> int:
    today = datetime.now(UTC).date()
    query = f"granularity=day&start={today - timedelta(days=1)}&end={today + timedelta(days=2)}"
    report = http_json("GET", f"http://127.0.0.1:{PUBLISH['ANALYTICS']}/v1/analytics/kpis?{query}", key)
    return int(report["totals"]["requests"])


def db_rows(tenant_id: str) -> tuple[int, int, int]:
    """(usage_ledger rows, requests rows, request ids recorded more than once) of the tenant, as the superuser."""
    import asyncpg

    async def query() -> tuple[int, int, int]:
        conn = await asyncpg.connect(f"postgresql://postgres:postgres@127.0.0.1:{PUBLISH['POSTGRES']}/aiaas")
        try:
            ledger = await conn.fetchval("select count(*) from usage_ledger where tenant_id = $1", uuid.UUID(tenant_id))
            requests = await conn.fetchval("select count(*) from requests where tenant_id = $1", uuid.UUID(tenant_id))
            doubled = await conn.fetchval(
                "select count(*) from (select request_id from requests where tenant_id = $1"
                " group by request_id having count(*) > 1) d",
                uuid.UUID(tenant_id),
            )
            return int(ledger), int(requests), int(doubled)
        finally:
            await conn.close()

    return asyncio.run(query())


def wait_metered(key: str, tenant_id: str, expected: int, timeout_s: float = 90.0) -> tuple[int, int, tuple[int, ...]]:
    deadline = time.monotonic() + timeout_s
    while True:
        billed, counted, rows = billing_requests(key), analytics_requests(key), db_rows(tenant_id)
        if billed == counted == rows[0] == rows[1] == expected or time.monotonic() > deadline:
            return billed, counted, rows
        time.sleep(1.0)


def nats_running(container_id: str) -> bool:
    return run("podman", "inspect", container_id, "--format", "{{.State.Running}}", capture=True).strip() == "true"


def kill_nats(key: str, outage_s: float = 6.0) -> tuple[list[str], int, bool, float]:
    """SIGKILL NATS again whenever its restart policy brings it back, for `outage_s`, chatting all along.

    Returns the request ids sent during the outage, the kills, whether this test had to start NATS again (podman
    4.3 does not apply the restart policy to a killed container) and how long NATS took to be healthy again.
    """
    nats = next(c for c in containers() if service_of(c) == "nats")["Id"]
    kills = 0
    done = threading.Event()

    def keep_killing() -> None:
        nonlocal kills
        deadline = time.monotonic() + outage_s
        while time.monotonic() < deadline:
            if nats_running(nats):
                run("podman", "kill", "--signal", "KILL", nats, check=False, capture=True)
                kills += 1
            time.sleep(0.2)
        done.set()

    killer = threading.Thread(target=keep_killing, daemon=True)
    killer.start()
    ids: list[str] = []
    while not done.is_set() or len(ids) < 6:
        ids += chat(key, 2, "during the NATS outage")
    killer.join()
    back = time.monotonic()
    started_by_test = not nats_running(nats)
    if started_by_test:
        run("podman", "start", nats, capture=True)
    deadline = back + 60
    while subprocess.run(["podman", "healthcheck", "run", nats], capture_output=True, check=False).returncode:  # noqa: S603, S607
        if time.monotonic() > deadline:
            raise RuntimeError("NATS did not get healthy again within 60 s")
        time.sleep(0.5)
    return ids, kills, started_by_test, time.monotonic() - back


# Run inside one container of each image: what the image holds besides the service (nothing for tests) and who runs it.
IMAGE_PROBE = (
    "import importlib.util as u, os, pathlib; "
    "print(os.getuid(), *[m for m in ('aiaas_testing', 'pytest') if u.find_spec(m)], "
    "*[str(p) for p in pathlib.Path('/app').rglob('tests')])"
)


def images_hold_no_test_support(listed: dict[str, Any], summary: list[str]) -> bool:
    """One running container per image: uid 10001, neither aiaas_testing nor pytest importable, no tests/ dirs."""
    seen: dict[str, str] = {}
    for name, container in sorted(listed.items()):
        if container.get("State") == "running" and name not in ("postgres", "nats", "redis"):
            seen.setdefault(str(container.get("ImageID") or container["Image"]), name)
    found = {name: run("podman", "exec", listed[name]["Id"], "python", "-c", IMAGE_PROBE, capture=True).split()
             for name in seen.values()}  # fmt: skip
    ok = all(words == ["10001"] for words in found.values())
    summary.append(
        f"{len(found)} images ({', '.join(sorted(found))}): uid 10001, no aiaas_testing, pytest or tests/:"
        f" {'OK' if ok else f'FAIL {found}'}"
    )
    return ok


def exercise(summary: list[str]) -> bool:
    admin = admin_key()
    tenant_id, key = make_tenant(admin)
    summary.append(f"tenant {tenant_id} (control plane, admin key `compose-admin` made by the migrate job)")
    before = chat(key, 10, "hello")
    billed, counted, rows = wait_metered(key, tenant_id, len(before))
    ok = billed == counted == rows[0] == rows[1] == len(before) and rows[2] == 0
    summary.append(
        f"{len(before)} chats (openai SDK, 5 streamed) -> billing usage {billed} requests, analytics {counted},"
        f" usage_ledger rows {rows[0]}, requests rows {rows[1]}, doubled {rows[2]}: {'OK' if ok else 'FAIL'}"
    )
    tier, decision_id, served_by = auto_chat(key)
    try:
        routed = bool(tier) and uuid.UUID(decision_id).version == 4
    except ValueError:
        routed = False
    summary.append(
        f"model auto -> tier {tier!r}, decision {decision_id!r}, answered by {served_by!r}"
        f" (the router decided, not the gateway's fallback table): {'OK' if routed else 'FAIL'}"
    )
    ok = ok and routed
    base = "http://127.0.0.1:{}"
    orchestration = orchestrator_runs(
        http_json,
        admin,
        base.format(PUBLISH["CONTROL_PLANE"]),
        base.format(PUBLISH["INGESTION"]),
        base.format(PUBLISH["ORCHESTRATOR"]),
    )
    summary.append(orchestration)
    ok = ok and orchestration.endswith(": OK")
    during, kills, started_by_test, back_s = kill_nats(key)
    after = chat(key, 6, "after the NATS kill")
    total = len(before) + 1 + len(during) + len(after)  # the auto request is metered like any other
    billed, counted, rows = wait_metered(key, tenant_id, total, timeout_s=120.0)
    recorded = all(during + after)
    kill_ok = billed == counted == rows[0] == rows[1] == total and rows[2] == 0 and recorded
    summary.append(
        f"NATS SIGKILLed ({kills}x: killed again whenever it came back) and down for 6 s, {len(during)} chats"
        f" during; started again by {'the test' if started_by_test else 'its restart policy'}, healthy"
        f" {back_s:.1f}s later, {len(after)} chats after:"
        f" {total} sent, billed {billed}, analytics {counted}, usage_ledger {rows[0]}, requests {rows[1]},"
        f" lost {total - rows[1]}, doubled {rows[2]}: {'OK' if kill_ok else 'FAIL'}"
    )
    return ok and kill_ok


def teardown(summary: list[str]) -> None:
    started = time.monotonic()
    compose("down", "-v", "--remove-orphans", "--timeout", "20", check=False)
    left = containers()
    summary.append(f"down -v in {time.monotonic() - started:.1f}s; containers left: {len(left)}")


def main() -> int:
    t0 = time.monotonic()
    summary: list[str] = []
    install()
    run("sh", str(HERE / "base_image.sh"), BASE_IMAGE)
    ports_free()
    service = start_podman_service()
    ok = False
    try:
        compose("down", "-v", "--remove-orphans", check=False, capture=True)  # a previous run's leftovers
        started = time.monotonic()
        compose("build")
        summary.append(f"build of every image: {time.monotonic() - started:.0f}s (base {BASE_IMAGE})")
        started = time.monotonic()
        loop = HealthLoop(started)
        loop.start()
        up = subprocess.Popen(  # noqa: S603
            ["docker-compose", "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
             "-f", str(HERE / "local-infra.override.yml"), "up", "-d"], env=compose_env(),
        )  # fmt: skip
        try:
            listed = wait_all_healthy(loop, up)
        finally:
            if up.poll() is None:
                up.wait(timeout=60)
        summary.append(f"up: all {len(listed)} containers settled in {time.monotonic() - started:.1f}s")
        for name in sorted(listed, key=lambda n: loop.healthy_at.get(n, 0.0)):
            if name == "migrate":
                summary.append(f"  {name:20} exited 0 (bootstrap, migrate, admin-keys ensure)")
            else:
                summary.append(f"  {name:20} healthy at {loop.healthy_at[name]:5.1f}s")
        ok = images_hold_no_test_support(listed, summary)
        ok = exercise(summary) and ok
        loop.stop()
    except Exception as exc:  # noqa: BLE001 - reported in the summary, then torn down
        ok = False  # an exception in any leg fails the run, whatever passed before it
        summary.append(f"FAILED: {type(exc).__name__}: {exc}")
        compose("ps", check=False)
        compose("logs", "--tail", "30", check=False)
    finally:
        teardown(summary)
        service.terminate()
        service.wait(timeout=20)
    summary.append(f"compose-test {'PASSED' if ok else 'FAILED'} in {time.monotonic() - t0:.0f}s")
    print("\n== compose-test summary\n" + "\n".join(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
