"""Dockerfiles and docker-compose.yml, checked by reading (no Docker engine runs here)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _dockerfiles() -> list[Path]:
    return sorted({ROOT / svc["build"]["dockerfile"] for svc in COMPOSE["services"].values() if "build" in svc})


def test_every_built_service_has_a_dockerfile_built_from_the_root():
    files = _dockerfiles()
    assert files
    for dockerfile in files:
        assert dockerfile.exists(), dockerfile
        for svc in COMPOSE["services"].values():
            if "build" in svc:
                assert svc["build"]["context"] == "."


def test_dockerfiles_copy_existing_paths_and_run_as_non_root():
    for svc in _built().values():
        dockerfile = ROOT / svc["build"]["dockerfile"]
        text = dockerfile.read_text()
        for src in re.findall(r"^COPY\s+(?!--from)(\S+)\s+\S+", text, flags=re.M):
            src = src.replace("${SERVICE_DIR}", svc["build"]["args"]["SERVICE_DIR"])
            assert (ROOT / src).exists(), f"{dockerfile}: COPY {src}"
        users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
        assert users and users[-1] not in ("root", "0"), dockerfile


def test_compose_commands_name_real_modules():
    for name, svc in COMPOSE["services"].items():
        command = svc.get("command")
        if isinstance(command, list) and command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, f"{name}: {command[2]}"


def test_compose_has_the_infrastructure_and_dependencies_exist():
    services = COMPOSE["services"]
    assert {"postgres", "nats", "redis", "migrate", "provider-sim", "gateway"} <= set(services)
    assert "pgvector" in services["postgres"]["image"]
    assert "-js" in services["nats"]["command"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"


def _built() -> dict[str, dict]:
    return {name: svc for name, svc in COMPOSE["services"].items() if "build" in svc}


def test_base_images_are_exact_tags_and_builds_take_the_base_as_an_argument():
    for name in ("postgres", "nats", "redis"):
        image = COMPOSE["services"][name]["image"]
        tag = image.rsplit(":", 1)[1]
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not an exact tag"
    for dockerfile in _dockerfiles():
        text = dockerfile.read_text()
        default = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, flags=re.M)
        assert default and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default.group(1)), dockerfile
        froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", text, flags=re.M)
        stages = {"${BASE_IMAGE}"}
        for base, stage in froms:  # each stage starts from the base image or an earlier stage
            assert base in stages, f"{dockerfile}: FROM {base}"
            stages.add(stage)
        assert len(froms) >= 2, f"{dockerfile}: multi-stage"
        assert "COPY --from=build" in text, dockerfile
    for name, svc in _built().items():
        assert svc["build"]["args"]["BASE_IMAGE"].startswith("${BASE_IMAGE:-python:3.11."), name


def test_images_run_as_a_numeric_non_root_user_and_checks_have_no_spaces():
    for dockerfile in _dockerfiles():
        text = dockerfile.read_text()
        assert re.findall(r"^USER\s+(\S+)", text, flags=re.M)[-1] == "10001", dockerfile
        for check in re.findall(r"^HEALTHCHECK .*CMD (.+)$", text, flags=re.M):
            args = yaml.safe_load(check)
            assert isinstance(args, list) and all(" " not in arg for arg in args), f"{dockerfile}: {check}"


def test_every_long_running_container_has_a_health_check_it_can_run():
    """Podman's Docker API splits exec-form arguments on spaces: checks are argument lists without spaces."""
    for name, svc in COMPOSE["services"].items():
        if name == "migrate":
            assert "healthcheck" not in svc and "restart" not in svc
            continue
        assert svc.get("init") is True, name
        assert svc.get("restart") in ("unless-stopped", "always"), name
        test = svc.get("healthcheck", {}).get("test")
        if test is None:  # the image's HEALTHCHECK, which checks the service's own listener
            dockerfile = (ROOT / svc["build"]["dockerfile"]).read_text()
            assert "HEALTHCHECK" in dockerfile and svc.get("command", ["python", "-m", "x", "--port"]), name
            continue
        assert test[0] == "CMD" and all(" " not in arg for arg in test), f"{name}: {test}"
        if test[1:3] == ["python", "-m"]:
            assert test[3] == "aiaas.healthcheck" and importlib.util.find_spec(test[3]) is not None, name
            port = re.search(r":(\d+)/", test[4]).group(1)
            env = svc.get("environment", {})
            listens = port in svc.get("expose", []) or port in str(svc.get("command", ""))
            assert listens, f"{name}: checks port {port} it does not serve"
            if "/metrics" in test[4]:
                assert any(k.endswith("METRICS_HOST") and v == "0.0.0.0" for k, v in env.items()), name
                assert any(k.endswith("METRICS_PORT") and str(v) == port for k, v in env.items()), name


def test_workers_serve_a_metrics_listener_their_check_probes():
    workers = {"usage-writer", "outbox-relay", "billing-meter", "billing-stripe-sync", "analytics-consumer"}
    for name in workers:
        test = COMPOSE["services"][name]["healthcheck"]["test"]
        assert test[-1].endswith("/metrics"), name


def test_infrastructure_checks_work_on_the_official_images():
    services = COMPOSE["services"]
    # nats:2.10 is FROM scratch (no wget): the alpine variant has busybox wget.
    assert services["nats"]["image"].endswith("-alpine") and services["nats"]["healthcheck"]["test"][1] == "wget"
    # Over TCP, so the official postgres image's socket-only first-start server does not count as up.
    assert "127.0.0.1" in services["postgres"]["healthcheck"]["test"]
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]


def test_gateway_wal_is_on_a_volume_and_admin_keys_come_from_the_database():
    gateway = COMPOSE["services"]["gateway"]
    wal = gateway["environment"]["GATEWAY_USAGE_WAL_DIR"]
    assert any(v.split(":")[0] in COMPOSE["volumes"] and v.split(":")[1] == wal for v in gateway["volumes"])
    assert wal in gateway["build"]["args"]["STATE_DIR"].split()  # created and chowned to 10001 in the image
    text = (ROOT / "docker-compose.yml").read_text()
    assert "PLATFORM_ADMIN_KEY" not in text and ":?}" not in text
    migrate = " ".join(COMPOSE["services"]["migrate"]["command"])
    assert "bootstrap" in migrate and "admin-keys ensure" in migrate
    # The router credential: kept by migrate on a volume only the gateway also mounts, read-only.
    key_file = gateway["environment"]["GATEWAY_ROUTER_SERVICE_TOKEN_FILE"]
    key_dir = key_file.rsplit("/", 1)[0]
    assert f"admin-keys ensure gateway --key-file {key_file}" in migrate
    assert f"router-key:{key_dir}:ro" in gateway["volumes"]
    mounting = {
        name
        for name, svc in COMPOSE["services"].items()
        if any(v.startswith("router-key:") for v in svc.get("volumes", []))
    }
    assert mounting == {"gateway", "migrate"}
    assert int(COMPOSE["services"]["migrate"]["environment"]["PG_CONNECT_WAIT_S"]) > 0


def test_stripe_stand_in_sends_webhooks_to_the_billing_admin_listener():
    services = COMPOSE["services"]
    url = services["stripe-sim"]["environment"]["STRIPE_SIM_WEBHOOK_URL"]
    assert url == "http://billing-admin:8086/webhooks/stripe"
    assert "8086" in services["billing-admin"]["command"]
    assert (
        services["stripe-sim"]["environment"]["STRIPE_SIM_WEBHOOK_SECRET"]
        == (services["billing-admin"]["environment"]["STRIPE_WEBHOOK_SECRET"])
    )


def test_dockerignore_keeps_the_context_to_sources():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".local", ".git", "**/__pycache__", ".mypy_cache", ".ruff_cache", ".env"):
        assert entry in ignored, entry


def test_local_infra_override_changes_only_images():
    override = yaml.safe_load((ROOT / "deploy/compose/local-infra.override.yml").read_text())
    assert set(override["services"]) == {"postgres", "nats", "redis"}
    for name, svc in override["services"].items():
        assert set(svc) == {"image", "build"}, name
        assert (ROOT / svc["build"]["context"] / svc["build"].get("dockerfile", "Dockerfile")).exists(), name


def test_healthcheck_module_exits_0_only_for_a_2xx_answer(monkeypatch):
    import http.server
    import threading

    from aiaas.healthcheck import main

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert main([f"{base}/ok"]) == 0
        assert main([f"{base}/down"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert main([f"{base}/ok"]) == 1  # nothing listens any more
    monkeypatch.delenv("HEALTHCHECK_URL", raising=False)
    assert main([]) == 2  # no URL: a usage error, not "healthy"
    monkeypatch.setenv("HEALTHCHECK_URL", f"{base}/ok")
    assert main([]) == 1


def test_make_compose_test_exists_and_is_not_part_of_make_test():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^compose-test:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert recipe and "deploy/compose/compose_test.py" in recipe.group(1)
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, flags=re.M).group(1)
    assert "compose" not in test_recipe
    script = (ROOT / "deploy/compose/compose_test.py").read_text()
    for step in ('"down", "-v"', "healthcheck", "openai", '"kill"', "BASE_IMAGE"):
        assert step in script, step


def test_compose_test_moves_every_published_port_off_its_default() -> None:
    """`make compose-test` publishes every service on a port of its own (PUBLISH), so it never takes the ports
    `make dev` or another stack uses: each `${PUBLISH_X:-port}` in the compose file has an entry."""
    text = (ROOT / "docker-compose.yml").read_text()
    published = set(re.findall(r"\$\{PUBLISH_([A-Z_]+):-\d+\}", text))
    spec = importlib.util.spec_from_file_location("compose_test", ROOT / "deploy/compose/compose_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert published and published == set(module.PUBLISH)
