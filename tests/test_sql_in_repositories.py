"""SQL lives in `repository.py` modules only (issue 13, acceptance 4): migrations and tests aside, no module of a
service or lib builds a statement (sqlalchemy `text`/`select`/`insert`/`update`/`delete`) or holds a SQL string.

Read with `ast`, so docstrings and comments that talk about SQL do not count; a string counts when it reads as a
statement ("select ... from", "insert into", "update ... set", "delete from", or it starts with `select`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = ("services", "control-plane", "data-plane", "libs")
# The sqlalchemy names that build a statement.
BUILDERS = frozenset({"text", "select", "insert", "update", "delete"})
SQL_STRING = re.compile(
    r"^\s*select\b|\bselect\b[^;]*?\bfrom\s+[a-z_]|\binsert\s+into\b|\bupdate\s+[a-z_.]+\s+set\b|\bdelete\s+from\b",
    re.IGNORECASE | re.DOTALL,
)
# Modules that must hold SQL and are not named repository.py, each with its reason. Keep this short.
EXEMPT: dict[str, str] = {}


def _is_exempt_path(path: Path) -> bool:
    rel = path.relative_to(ROOT)
    parts = rel.parts
    return (
        path.name == "repository.py"
        or "migrations" in parts
        or "tests" in parts
        or path.name == "conftest.py"
        or parts[:2] == ("libs", "aiaas-testing")  # the test-support package, installed only for tests
        or rel.as_posix() in EXEMPT
    )


def source_modules() -> Iterator[Path]:
    for top in SOURCE_ROOTS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".venv" not in path.parts and not _is_exempt_path(path):
                yield path


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the string constants that are bare expression statements (docstrings and the like)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _sqlalchemy_builders(tree: ast.AST) -> tuple[dict[str, str], set[str]]:
    """(local name -> builder, for `from sqlalchemy... import text`) and the local names bound to sqlalchemy modules."""
    names: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            for alias in node.names:
                if alias.name in BUILDERS:
                    names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy":
                    modules.add(alias.asname or alias.name.split(".")[0])
    return names, modules


def _string_parts(node: ast.AST) -> str | None:
    """The literal text of a str constant or an f-string (its constant parts), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def violations(path: Path) -> list[str]:
    """`line: what` for each statement builder called and each SQL string in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    builders, modules = _sqlalchemy_builders(tree)
    docstrings = _docstring_nodes(tree)
    # An f-string is judged whole; a builder's own string argument is reported once, as the builder call.
    skip = docstrings | {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            builder = None
            if isinstance(func, ast.Name) and func.id in builders:
                builder = builders[func.id]
            elif (
                isinstance(func, ast.Attribute)
                and func.attr in BUILDERS
                and isinstance(func.value, ast.Name)
                and func.value.id in modules
            ):
                builder = func.attr
            if builder is not None:
                found.append(f"{node.lineno}: sqlalchemy {builder}(...)")
                skip |= {id(arg) for arg in node.args}
    for node in ast.walk(tree):
        if id(node) not in skip:
            text = _string_parts(node)
            if text is not None and SQL_STRING.search(text):
                snippet = " ".join(text.split())[:60]
                found.append(f"{getattr(node, 'lineno', 0)}: SQL string {snippet!r}")
    return sorted(found, key=lambda line: int(line.split(":", 1)[0]))


def all_violations() -> dict[str, list[str]]:
    """relative path -> its violations, for every source module outside repositories, migrations and tests."""
    out = {}
    for path in source_modules():
        found = violations(path)
        if found:
            out[path.relative_to(ROOT).as_posix()] = found
    return out


def test_no_sql_outside_repository_modules() -> None:
    found = all_violations()
    report = "\n".join(f"{path}\n    " + "\n    ".join(lines) for path, lines in found.items())
    assert not found, f"SQL outside repository.py modules (move it into the domain's repository.py):\n{report}"


def test_every_exemption_names_an_existing_module_and_a_reason() -> None:
    for rel, reason in EXEMPT.items():
        assert (ROOT / rel).is_file(), rel
        assert len(reason.split()) >= 4, rel


def test_the_checker_sees_builders_and_sql_strings_but_not_docstrings(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        '"""Reads rows: select id from tenants (a docstring does not count)."""\n'
        "import sqlalchemy as sa\n"
        "from sqlalchemy import select as sel, text\n"
        "# insert into comments does not count either\n"
        "def f(t):\n"
        '    """update x set y = 1 -- nor a function docstring"""\n'
        '    a = text("select 1")\n'
        "    b = sel(t)\n"
        "    c = sa.delete(t)\n"
        '    d = "DELETE FROM usage WHERE id = :id"\n'
        '    e = f"insert into {t} values (1)"\n'
        '    g = "SELECT count(*) FROM requests"\n'
        '    h = "Pick a plan, then update your card"\n'
        "    return a, b, c, d, e, g, h\n"
    )
    lines = [line.split(": ", 1) for line in violations(module)]
    assert [(int(n), what.split(" ", 2)[:2]) for n, what in lines] == [
        (7, ["sqlalchemy", "text(...)"]),
        (8, ["sqlalchemy", "select(...)"]),
        (9, ["sqlalchemy", "delete(...)"]),
        (10, ["SQL", "string"]),
        (11, ["SQL", "string"]),
        (12, ["SQL", "string"]),
    ]
