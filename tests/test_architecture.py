"""ARCHITECTURE.md stays true (issue 13, acceptance 6): its processes, events, streams, consumers and database roles
are the code's (aiaas.roles, docker-compose.yml, data-plane/events/, aiaas.events.topology), and the README links it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from aiaas.events import schemas
from aiaas.events.topology import CONSUMERS, STREAMS
from aiaas.roles import DSN_ROLES, PROCESS_ROLES

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "ARCHITECTURE.md").read_text()
EVENTS_DIR = ROOT / "data-plane/events"
TENANT = "00000000-0000-0000-0000-000000000000"


def section(title: str) -> str:
    """The text under `## title`, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, flags=re.M | re.S)
    assert match, f"ARCHITECTURE.md has no section {title!r}"
    return match.group(1)


def table(title: str) -> list[list[str]]:
    """The rows (cells stripped of backticks) of the first table in a section, header and rule left out."""
    rows = [line for line in section(title).splitlines() if line.startswith("|")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows[2:]]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` the rest (one token at least)."""
    tokens, want = subject.split("."), pattern.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or token not in ("*", tokens[i]):
            return False
    return len(tokens) == len(want)


def event_types() -> set[str]:
    """Every event type with a JSON Schema (the envelope aside)."""
    types = set()
    for path in EVENTS_DIR.glob("*.json"):
        if path.name != "envelope.json":
            assert json.loads(path.read_text())["title"] == path.stem, path
            types.add(path.stem)
    return types


def test_the_processes_are_the_roles_table_and_compose_images() -> None:
    rows = table("Processes")
    names = [row[0] for row in rows]
    assert len(names) == len(set(names)) and set(names) == set(PROCESS_ROLES), "one row per aiaas.roles process"
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, directory, *_ in rows:
        service = compose["services"][name.replace("_", "-")]
        assert service["build"]["args"]["SERVICE_DIR"] == directory, name


def test_the_events_are_the_schemas_with_their_streams_and_consumers() -> None:
    rows = table("Events")
    documented = {row[0]: row for row in rows}
    assert len(documented) == len(rows)
    declared = {value for name, value in vars(schemas).items() if name.isupper() and isinstance(value, str)}
    assert set(documented) == event_types() == declared
    for event, (_, stream, _publisher, consumed_by) in documented.items():
        subject = f"{event}.{TENANT}"
        streams = [name for name, spec in STREAMS.items() if any(subject_matches(s, subject) for s in spec.subjects)]
        assert streams == [stream], event
        consumers = {name for name, spec in CONSUMERS.items() if subject_matches(spec.filter_subject, subject)}
        # "—": no durable consumer (platform events that operators and alerting subscribe to).
        assert (set() if consumed_by == "—" else set(consumed_by.split(", "))) == consumers, event


def test_every_stream_and_durable_consumer_is_named() -> None:
    events = section("Events")
    for name, spec in STREAMS.items():
        assert f"{name} (`{spec.subjects[0]}`" in events, name
    for name in CONSUMERS:
        assert name in events, name


def test_the_database_roles_are_aiaas_roles() -> None:
    rows = table("Database roles")
    assert {row[0]: row[1] for row in rows} == DSN_ROLES


def test_the_readme_links_it() -> None:
    assert "(ARCHITECTURE.md)" in (ROOT / "README.md").read_text()


def test_subject_matching() -> None:
    assert subject_matches("usage.recorded.>", f"usage.recorded.{TENANT}")
    assert subject_matches("billing.>", f"billing.usage.metered.{TENANT}")
    assert not subject_matches("usage.recorded.>", "usage.recorded")
    assert not subject_matches("billing.*", f"billing.usage.{TENANT}")
    assert subject_matches("billing.*.x", "billing.usage.x")
