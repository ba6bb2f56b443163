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
    for dockerfile in _dockerfiles():
        text = dockerfile.read_text()
        for src in re.findall(r"^COPY\s+(\S+)\s+\S+", text, flags=re.M):
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
