"""Every money field of every service's OpenAPI schema and of every event schema names its unit.

A money-looking property (one of `MONEY_WORDS` in its name, a `_per_1k` price, or a `_minor`/`_usd` suffix)
must end in one of `UNIT_SUFFIXES` and carry a description that says that unit. The HTTP apps are built
in-process (`create_app()` does no I/O; only their lifespans do) and every app module of the repository is
found by its `create_app`, so a new service is walked without being listed here. The provider and Stripe
simulators are left out: their fields are OpenAI's and Stripe's wire protocols, not names we choose.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiaas_testing import InfraUrls
from data_plane import EVENTS_DIR

ROOT = Path(__file__).resolve().parent.parent
# The vendors' own APIs (see the module docstring).
WIRE_PROTOCOL_STAND_INS = {"provider_sim", "stripe_sim"}
MONEY_WORDS = {
    "price",
    "cost",
    "amount",
    "charge",
    "fee",
    "balance",
    "credit",
    "total",
    "subtotal",
    "tax",
    "spend",
    "budget",
    "refund",
    "debit",
    "money",
}
# suffix -> words one of which the description must use
UNIT_SUFFIXES = {
    "_minor_per_1k": ("minor units", "cents"),
    "_usd_per_1k": ("US dollars", "USD"),
    "_minor": ("minor units", "cents"),
    "_usd": ("US dollars", "USD"),
}
# Names with a money word that are not amounts: identifiers, times, counts, rates, statuses.
NOT_AN_AMOUNT = re.compile(r"_(id|ids|at|url|status|key|tokens|pct|pcts|rate|count|reason)$")
ALLOWED = {"tax_rate", "total_tokens", "credit_id", "totals"}


def money_looking(name: str) -> bool:
    if name in ALLOWED or NOT_AN_AMOUNT.search(name):
        return False
    words = {word.removesuffix("s") for word in name.lower().split("_")}
    return bool(words & MONEY_WORDS) or "per_1k" in name or name.endswith(("_minor", "_usd"))


def unit_problem(name: str, prop: dict[str, Any]) -> str | None:
    """Why this money property does not say its unit, or None."""
    suffix = next((s for s in UNIT_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        return f"name does not end in one of {sorted(UNIT_SUFFIXES)}"
    description = prop.get("description") or ""
    if not any(word.lower() in description.lower() for word in UNIT_SUFFIXES[suffix]):
        return f"description {description!r} does not say {' or '.join(UNIT_SUFFIXES[suffix])}"
    return None


def _is_scalar(prop: dict[str, Any]) -> bool:
    """Amounts are numbers or strings (decimal strings), maybe nullable; objects and arrays are walked."""
    kinds = [prop, *prop.get("anyOf", []), *prop.get("oneOf", []), *prop.get("allOf", [])]
    types = set()
    for kind in kinds:
        t = kind.get("type")
        types |= set(t) if isinstance(t, list) else {t} if t else set()
    return bool(types & {"string", "number", "integer"})


def walk(schema: Any, where: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(location, property name, property schema) of every property anywhere in `schema`."""
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict):
                yield where, name, prop
        for key, value in schema.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for n, value in enumerate(schema):
            yield from walk(value, f"{where}/{n}")


def problems(schema: Any, where: str) -> tuple[list[str], set[str]]:
    """Money properties of `schema` that don't say their unit, and the names of all money properties."""
    found, seen = [], set()
    for location, name, prop in walk(schema, where):
        if money_looking(name) and _is_scalar(prop):
            seen.add(name)
            why = unit_problem(name, prop)
            if why:
                found.append(f"{location}: {name}: {why}")
    for parameter in _parameters(schema):
        name = parameter.get("name", "")
        if money_looking(name):
            seen.add(name)
            why = unit_problem(name, {"description": parameter.get("description", "")})
            if why:
                found.append(f"{where} parameter {name}: {why}")
    return found, seen


def _parameters(openapi: Any) -> Iterator[dict[str, Any]]:
    for item in (openapi.get("paths") or {}).values() if isinstance(openapi, dict) else ():
        for operation in item.values():
            if isinstance(operation, dict):
                yield from operation.get("parameters", [])


def _app_modules() -> list[str]:
    """Every `<package>.<module>` of the repository that defines `create_app` (services and control plane)."""
    modules = []
    for path in sorted([*ROOT.glob("services/*/*/*.py"), *ROOT.glob("control-plane/control_plane/*.py")]):
        package = path.parent.name
        if package in WIRE_PROTOCOL_STAND_INS or "tests" in path.parts:
            continue
        if re.search(r"^def create_app\(", path.read_text(), re.MULTILINE):
            modules.append(f"{package}.{path.stem}")
    return modules


def _openapi(app: Any) -> dict[str, Any]:
    while not hasattr(app, "openapi"):
        app = app.app  # ASGI wrappers (realtime's socket front) hold the FastAPI app
    return app.openapi()


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch, infra_urls: InfraUrls) -> None:
    """What the settings of the admin listeners require; nothing is connected to."""
    monkeypatch.setenv("ADMIN_DATABASE_URL", infra_urls.admin_database_url)


APP_MODULES = _app_modules()


def test_the_walk_finds_every_service() -> None:
    assert {"gateway.app", "billing.app", "analytics.app", "control_plane.app", "realtime.app"} <= set(APP_MODULES)


@pytest.mark.parametrize("module", APP_MODULES)
def test_every_money_field_of_the_openapi_schema_names_its_unit(module: str, service_env: None) -> None:
    app = importlib.import_module(module).create_app()
    found, _ = problems(_openapi(app), module)
    assert not found, "\n".join(found)


def test_the_walk_sees_the_money_fields_it_must_judge(service_env: None) -> None:
    seen: set[str] = set()
    for module in ("billing.app", "analytics.app", "control_plane.app"):
        seen |= problems(_openapi(importlib.import_module(module).create_app()), module)[1]
    assert {"overage_charge_minor", "unit_amount_minor", "balance_minor", "cost_usd", "input_usd_per_1k"} <= seen


@pytest.mark.parametrize("path", sorted(EVENTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_every_money_field_of_the_event_schemas_names_its_unit(path: Path) -> None:
    found, _ = problems(json.loads(path.read_text()), path.name)
    assert not found, "\n".join(found)


def test_event_schemas_carry_their_money_fields() -> None:
    seen: set[str] = set()
    for path in EVENTS_DIR.glob("*.json"):
        seen |= problems(json.loads(path.read_text()), path.name)[1]
    assert {"cost_usd", "charge_minor", "unit_amount_minor", "amount_minor", "total_minor"} <= seen


@pytest.mark.parametrize(
    ("name", "prop", "refused"),
    [
        ("input_per_1k", {"type": "string", "description": "minor units per 1k"}, True),
        ("cost", {"type": "string", "description": "US dollars"}, True),
        ("unit_amount", {"type": "string"}, True),
        ("overage_charge_minor", {"type": "string"}, True),
        ("cost_usd", {"type": "string", "description": "minor units"}, True),
        ("balance_minor", {"type": "integer", "description": "integer minor units (cents)"}, False),
        ("input_usd_per_1k", {"anyOf": [{"type": "number"}, {"type": "string"}], "description": "US dollars"}, False),
        ("tax_rate", {"type": "string"}, False),
        ("total_tokens", {"type": "integer"}, False),
        ("credit_grant_id", {"type": "string"}, False),
    ],
)
def test_the_rule(name: str, prop: dict[str, Any], refused: bool) -> None:
    found, _ = problems({"properties": {name: prop}}, "t")
    assert bool(found) is refused, found
