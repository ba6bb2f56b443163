"""Every service has the same shape (issue 13, acceptance 3), so a new one copies the right thing.

A service directory (services/*, control-plane, data-plane) holds `pyproject.toml`, `tests/` and one importable
package named after it; the package has `config.py` (its Settings), `__main__.py`, and `app.py` (HTTP, built by
`aiaas.service_app`, with `state.py` for its lifespan state) and/or `consumers.py` modules (JetStream workers).
The plumbing is the libs': no service builds its own FastAPI app, keeps a `deps.py`, starts uvicorn itself, or
ships test support in its runtime package. Images come from the one deploy/Dockerfile, so no service keeps a
Dockerfile of its own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Services that serve neither HTTP nor events, with the reason; they still have config.py and __main__.py.
JOBS = {"data-plane": "migrations, roles and seeds: a CLI run once per deploy, no long-running process"}
APP_CLASSES = frozenset({"FastAPI", "Starlette"})
APP_MODULES = frozenset({"fastapi", "starlette", "starlette.applications"})
# The modules a process is started from hand their process to the libs' one way of running it: aiaas.serve or
# aiaas.worker, directly or through a lib module built on them (aiaas.standin for the wire stand-ins).
RUNNERS = frozenset({"aiaas.serve", "aiaas.worker"})


@dataclass(frozen=True)
class Service:
    directory: Path
    root: Path = ROOT

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def package(self) -> Path:
        return self.directory / self.name.replace("-", "_")

    def modules(self) -> list[Path]:
        """The package's modules, tests and migrations aside."""
        return sorted(path for path in self.package.rglob("*.py") if not {"tests", "migrations"} & set(path.parts))

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def services() -> list[Service]:
    dirs = [path.parent for path in sorted((ROOT / "services").glob("*/pyproject.toml"))]
    return [Service(d) for d in (*dirs, ROOT / "control-plane", ROOT / "data-plane")]


SERVICES = services()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _own_app(tree: ast.Module) -> Iterator[str]:
    """`line: what` for each FastAPI/Starlette app built or subclassed in the module."""
    local = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module in APP_MODULES
        for alias in node.names
        if alias.name in APP_CLASSES
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in local or (isinstance(func, ast.Attribute) and name in APP_CLASSES):
                yield f"{node.lineno}: builds {name}(...) (use aiaas.service_app.service_app)"
        elif isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
                if name in local or name in APP_CLASSES:
                    yield f"{node.lineno}: class {node.name}({name}) (use aiaas.service_app.service_app)"


def entry_helpers() -> frozenset[str]:
    """aiaas.serve, aiaas.worker and the aiaas modules that import either."""
    lib = ROOT / "libs/aiaas/src"
    helpers = set(RUNNERS)
    for path in lib.rglob("*.py"):
        if _imported_modules(_tree(path)) & RUNNERS:
            helpers.add(".".join(path.relative_to(lib).with_suffix("").parts))
    # It builds apps; its old `serve` only forwards to aiaas.serve until nobody imports it.
    return frozenset(helpers - {"aiaas.service_app"})


ENTRY_HELPERS = entry_helpers()


def _is_entry(path: Path, tree: ast.Module) -> bool:
    """A module a process starts from: `__main__.py`, or one with an `if __name__ == "__main__":` block."""
    if path.name == "__main__.py":
        return True
    return any(
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        for node in tree.body
    )


def shape_problems(service: Service) -> list[str]:
    """What keeps `service` from the common shape, one line each (empty when it has it)."""
    problems: list[str] = []
    pkg = service.package
    for required in ("pyproject.toml", "tests"):
        if not (service.directory / required).exists():
            problems.append(f"{service.rel(service.directory)}: no {required}")
    if not pkg.is_dir():
        return [*problems, f"{service.rel(service.directory)}: no package {pkg.name}/"]
    for required in ("__init__.py", "__main__.py", "config.py"):
        if not (pkg / required).is_file():
            problems.append(f"{service.rel(pkg)}: no {required}")
    has_app = (pkg / "app.py").is_file()
    has_consumers = any(path.name == "consumers.py" for path in service.modules())
    if service.name not in JOBS and not (has_app or has_consumers):
        problems.append(f"{service.rel(pkg)}: neither app.py nor a consumers.py")
    if has_app and not (pkg / "state.py").is_file():
        problems.append(f"{service.rel(pkg)}: app.py without state.py (the lifespan state and its StateDep)")
    if (service.directory / "Dockerfile").exists():
        problems.append(f"{service.rel(service.directory)}/Dockerfile: images come from deploy/Dockerfile")
    for path in service.modules():
        rel = service.rel(path)
        if path.name == "deps.py":
            problems.append(f"{rel}: a deps.py of its own (use aiaas.deps)")
        if path.name == "testing.py":
            problems.append(f"{rel}: test support in the runtime package (it belongs in libs/aiaas-testing)")
        tree = _tree(path)
        problems += [f"{rel}:{line}" for line in _own_app(tree)]
        imported = _imported_modules(tree)
        if any(name.split(".")[0] == "uvicorn" for name in imported):
            problems.append(f"{rel}: imports uvicorn (a service runs through aiaas.serve)")
        if service.name not in JOBS and _is_entry(path, tree) and not imported & ENTRY_HELPERS:
            problems.append(f"{rel}: a process entry that uses neither aiaas.serve nor aiaas.worker")
    return problems


def test_the_service_list_is_every_directory_with_a_package() -> None:
    names = [service.name for service in SERVICES]
    assert len(names) == len(set(names))
    assert {"gateway", "billing", "analytics", "realtime", "control-plane", "data-plane"} <= set(names)
    for service in SERVICES:
        assert (service.directory / "pyproject.toml").is_file(), service.name


def test_each_service_lists_its_modules() -> None:
    """The listing a reviewer reads: each service's modules, relative to its package."""
    for service in SERVICES:
        modules = [path.relative_to(service.package).as_posix() for path in service.modules()]
        assert "config.py" in modules and "__main__.py" in modules, (service.name, modules)


@pytest.mark.parametrize("service", SERVICES, ids=lambda service: service.name)
def test_service_has_the_common_shape(service: Service) -> None:
    problems = shape_problems(service)
    assert not problems, "\n".join(problems)


def test_no_test_file_imports_helpers_from_a_conftest() -> None:
    """Test helpers come from `aiaas_testing` or a `factories` module beside the tests, never from a conftest."""
    found = []
    for top in ("services", "control-plane", "data-plane", "libs", "tests"):
        for path in sorted((ROOT / top).rglob("test_*.py")):
            for node in ast.walk(_tree(path)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "conftest":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "\n".join(found)


def test_the_checks_catch_an_app_a_deps_module_uvicorn_and_no_state(tmp_path: Path) -> None:
    directory = tmp_path / "services" / "toy"
    (directory / "tests").mkdir(parents=True)
    (directory / "pyproject.toml").write_text("[project]\nname = 'toy'\n")
    pkg = directory / "toy"
    pkg.mkdir()
    for name in ("__init__.py", "config.py", "deps.py"):
        (pkg / name).write_text("")
    (pkg / "app.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n")
    (pkg / "__main__.py").write_text("import uvicorn\n\nuvicorn.run('toy.app:app')\n")
    problems = [line.split(": ", 1)[1] for line in shape_problems(Service(directory, root=tmp_path))]
    assert sorted(problems) == [
        "a deps.py of its own (use aiaas.deps)",
        "a process entry that uses neither aiaas.serve nor aiaas.worker",
        "app.py without state.py (the lifespan state and its StateDep)",
        "builds FastAPI(...) (use aiaas.service_app.service_app)",
        "imports uvicorn (a service runs through aiaas.serve)",
    ]
