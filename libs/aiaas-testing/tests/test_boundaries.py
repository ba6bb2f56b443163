"""Test support stays out of what ships: no runtime module imports it (or pytest), no runtime package depends on it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TEST_ONLY = frozenset({"aiaas_testing", "pytest", "pytest_asyncio", "hypothesis"})


def runtime_packages() -> list[Path]:
    """Every package an image installs: libs/aiaas and each service directory's importable package."""
    dirs = [p.parent for p in sorted((ROOT / "services").glob("*/pyproject.toml"))]
    dirs += [ROOT / "control-plane", ROOT / "data-plane"]
    return [ROOT / "libs/aiaas/src/aiaas", *(d / d.name.replace("-", "_") for d in dirs)]


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


def test_runtime_modules_import_no_test_support() -> None:
    found = {
        path.relative_to(ROOT).as_posix(): sorted(imported_roots(path) & TEST_ONLY)
        for package in runtime_packages()
        for path in package.rglob("*.py")
        if "tests" not in path.parts and imported_roots(path) & TEST_ONLY
    }
    assert not found, f"runtime modules importing test support (move the code to libs/aiaas-testing): {found}"


def test_no_runtime_package_depends_on_aiaas_testing() -> None:
    for pyproject in [ROOT / "libs/aiaas/pyproject.toml", *sorted(ROOT.glob("services/*/pyproject.toml"))]:
        deps = tomllib.loads(pyproject.read_text())["project"].get("dependencies", [])
        assert not [d for d in deps if d.startswith("aiaas-testing")], pyproject


def test_every_runtime_package_is_found() -> None:
    assert all((package / "__init__.py").exists() for package in runtime_packages())
    assert len(runtime_packages()) >= 4
