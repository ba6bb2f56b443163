"""One Dockerfile for every image (issue 13 #4): compose's images checked against the service directories.

Every built compose service uses deploy/Dockerfile with a service directory and its entry module as build arguments;
every service directory is built; each process's command runs a module of its image's own package. Images install
libs/aiaas and their service only: never the test-support package.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from aiaas.roles import PROCESS_ROLES

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy/Dockerfile"
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
BUILT = {name: svc for name, svc in COMPOSE["services"].items() if "build" in svc}


def service_dirs() -> set[str]:
    """Every directory with a service's pyproject.toml (libs aside), relative to the root."""
    found = {path.parent.relative_to(ROOT).as_posix() for path in ROOT.glob("services/*/pyproject.toml")}
    return found | {"control-plane", "data-plane"}


def _command_module(svc: dict[str, Any]) -> str | None:
    command = svc.get("command")
    if isinstance(command, list) and command[:2] == ["python", "-m"]:
        return str(command[2])
    return None


def test_every_image_is_built_by_the_one_dockerfile() -> None:
    assert BUILT
    for name, svc in BUILT.items():
        build = svc["build"]
        assert (build["context"], build["dockerfile"]) == (".", "deploy/Dockerfile"), name
        assert build["target"] in ("service", "job"), name
        args = build["args"]
        assert args["SERVICE_DIR"] in service_dirs(), name
        assert args["APP_MODULE"] == Path(args["SERVICE_DIR"]).name.replace("-", "_"), name
        assert (ROOT / args["SERVICE_DIR"] / args["APP_MODULE"] / "__main__.py").is_file(), name
        if build["target"] == "service":
            assert args["PORT"].isdigit(), name
    found = [path for path in ROOT.glob("**/Dockerfile") if not {".venv", ".local", ".git"} & set(path.parts)]
    assert sorted(found) == sorted([DOCKERFILE, *ROOT.glob("deploy/compose/standins/*/Dockerfile")]), (
        "images come from deploy/Dockerfile (the infrastructure stand-ins aside)"
    )


def test_every_service_directory_is_built_and_every_process_runs_from_its_own_package() -> None:
    assert {svc["build"]["args"]["SERVICE_DIR"] for svc in BUILT.values()} == service_dirs()
    assert {name.replace("-", "_") for name in BUILT} == set(PROCESS_ROLES)
    for name, svc in BUILT.items():
        package = svc["build"]["args"]["APP_MODULE"]
        module = _command_module(svc)
        if module is not None:
            assert module.split(".")[0] == package, (name, module)
            assert importlib.util.find_spec(module) is not None, (name, module)


def test_processes_sharing_an_image_share_its_build_exactly() -> None:
    """One x-image-* block per image: the same directory always comes with the same arguments and target."""
    by_dir: dict[str, dict[str, Any]] = {}
    for name, svc in BUILT.items():
        first = by_dir.setdefault(svc["build"]["args"]["SERVICE_DIR"], svc["build"])
        assert svc["build"] == first, name


def test_ports_and_state_dirs_match_the_compose_services() -> None:
    for name, svc in BUILT.items():
        args = svc["build"]["args"]
        if _command_module(svc) is None and svc["build"]["target"] == "service":  # the image's own CMD serves PORT
            published = [port.rsplit(":", 1)[1] for port in svc.get("ports", [])]
            assert args["PORT"] in published, name
        for volume in svc.get("volumes", []):
            # A volume is mounted only where the image made a directory its app user owns (else root owns it).
            assert volume.split(":")[1] in args.get("STATE_DIR", "").split(), (name, volume)


def test_the_dockerfile_is_multi_stage_non_root_and_installs_only_the_service_and_libs() -> None:
    text = DOCKERFILE.read_text()
    copies = re.findall(r"^COPY\s+(?!--from)(\S+)\s+\S+", text, flags=re.M)
    # Dependencies from the pyproject files first (layers a code change reuses), then the code.
    assert copies == [
        "constraints.txt",
        "libs/aiaas/pyproject.toml",
        "${SERVICE_DIR}/pyproject.toml",
        "libs/aiaas-embedder/pyproject.toml",
        "libs/aiaas",
        "libs/aiaas-embedder",
        "${SERVICE_DIR}",
    ]
    # The embedder (onnxruntime and the model) goes only into images whose service lists it.
    assert text.count("""grep -q '"aiaas-embedder"' "${SERVICE_DIR}/pyproject.toml\"""") == 2
    assert re.findall(r"^USER\s+(\S+)", text, flags=re.M) == ["10001"]
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)$", text, flags=re.M)
    assert stages == ["build", "runtime", "job", "service"]  # service last: the default target
    assert "aiaas-testing" not in text.replace("libs/aiaas-testing is outside", "")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"libs/aiaas-testing", "**/tests", "tests"} <= set(ignored)


def test_dependency_layers_leave_out_only_the_workspace_packages() -> None:
    """deploy/project_deps.py: a pyproject's dependencies for `pip install -r`, aiaas (installed from source) aside."""
    spec = importlib.util.spec_from_file_location("project_deps", ROOT / "deploy/project_deps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for directory in service_dirs():
        pyproject = ROOT / directory / "pyproject.toml"
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
        expected: list[str] = []
        for dep in deps:
            if dep == "aiaas[checkpoints]":  # the extra's dependencies in its place
                extra = tomllib.loads((ROOT / "libs/aiaas/pyproject.toml").read_text())["project"]
                expected += [d for d in extra["optional-dependencies"]["checkpoints"] if d not in expected]
            elif dep not in ("aiaas", "aiaas-embedder"):
                expected.append(dep)
        assert module.requirements(str(pyproject)) == expected, directory


def test_no_image_installs_the_test_support_package() -> None:
    """`pip install` of a service pulls its [project] dependencies: none is aiaas-testing (tests install it)."""
    for directory in (*service_dirs(), "libs/aiaas"):
        project = tomllib.loads((ROOT / directory / "pyproject.toml").read_text())["project"]
        names = [re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0].lower() for dep in project.get("dependencies", [])]
        assert not {"aiaas-testing", "aiaas_testing", "pytest"} & set(names), directory
