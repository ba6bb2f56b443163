"""Checks of the Prometheus and Alertmanager side: promtool and amtool, a unit test and a runbook per alert."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .findings import Finding, run_tool

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = ["alert_names", "check_alertmanager", "check_prometheus", "check_runbooks", "check_tested"]

RUNBOOK_SECTIONS = ("Meaning", "Impact", "Dashboard", "Diagnosis", "Mitigation", "Escalation")


def _tail(output: str) -> str:
    """The tool's error lines, without its `Checking <file>` and `SUCCESS` chatter."""
    lines = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("Checking"):
            line = line.partition("FAILED:")[2].strip()
        if line and not line.startswith("SUCCESS"):
            lines.append(line)
    # promtool test names each failing case on an `alertname: X, time: T` or `expr: ..., time: T` line.
    cases = [line for line in lines if line.startswith(("alertname:", "expr:"))]
    return " | ".join(cases or lines[-6:])


@cache
def rule_docs(root: Path) -> dict[Path, dict[str, Any]]:
    """The rule files under `root`, parsed once per run (the checks read them several times)."""
    out = {}
    for path in sorted((root / "prometheus" / "rules").glob("*.yml")):
        try:
            doc = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError:
            doc = None  # promtool check rules reports it
        out[path] = doc if isinstance(doc, dict) else {}
    return out


def alerts(root: Path) -> list[dict[str, Any]]:
    return [
        rule
        for doc in rule_docs(root).values()
        for group in doc.get("groups") or []
        for rule in group.get("rules") or []
        if isinstance(rule, dict) and "alert" in rule
    ]


def alert_names(root: Path) -> set[str]:
    return {str(rule["alert"]) for rule in alerts(root)}


def check_prometheus(root: Path, promtool: Path) -> list[Finding]:
    findings = []
    prom = root / "prometheus"
    code, out = run_tool([promtool, "check", "config", "--syntax-only", "prometheus.yml"], prom)
    if code != 0:
        findings.append(Finding("promtool-config", f"prometheus/prometheus.yml: {_tail(out)}"))
    rules = sorted((prom / "rules").glob("*.yml"))
    code, out = run_tool([promtool, "check", "rules", *rules], prom)
    if code != 0:
        findings.append(Finding("promtool-rules", _tail(out)))
    tests = sorted((prom / "tests").glob("*.yml"))
    if not tests:
        findings.append(Finding("promtool-test", "no unit tests under prometheus/tests/"))
    else:
        code, out = run_tool([promtool, "test", "rules", *tests], prom / "tests")
        if code != 0:
            findings.append(Finding("promtool-test", _tail(out)))
    return findings


def check_alertmanager(root: Path, amtool: Path) -> list[Finding]:
    code, out = run_tool([amtool, "check-config", "alertmanager/alertmanager.yml"], root)
    return [] if code == 0 else [Finding("amtool", f"alertmanager/alertmanager.yml: {_tail(out)}")]


def check_tested(root: Path) -> list[Finding]:
    """Every alert name appears as an `alertname:` of some promtool unit test."""
    tested = set()
    for path in (root / "prometheus" / "tests").glob("*.yml"):
        tested |= set(re.findall(r"^\s*alertname:\s*(\S+)\s*$", path.read_text(), re.MULTILINE))
    return [
        Finding("alert-untested", f"alert {name} has no promtool unit test (prometheus/tests/*.yml)")
        for name in sorted(alert_names(root) - tested)
    ]


def check_runbooks(root: Path) -> list[Finding]:
    """A runbook per alert (with every section), a `runbook_url` pointing at it, no runbook without an alert."""
    findings = []
    names = alert_names(root)
    runbooks = {p.stem: p for p in (root / "runbooks").glob("*.md")}
    for name, url in sorted(
        {(str(r["alert"]), str((r.get("annotations") or {}).get("runbook_url", ""))) for r in alerts(root)}
    ):
        if not url.endswith(f"/runbooks/{name}.md"):
            findings.append(
                Finding("runbook-url", f"alert {name}: runbook_url {url!r} does not end in /runbooks/{name}.md")
            )
    for name in sorted(names):
        if name not in runbooks:
            findings.append(Finding("runbook-missing", f"alert {name} has no runbook (runbooks/{name}.md)"))
    for name, path in sorted(runbooks.items()):
        if name not in names:
            findings.append(Finding("runbook-orphan", f"runbooks/{path.name} belongs to no alert"))
            continue
        headings = set(re.findall(r"^## (.+?)\s*$", path.read_text(), re.MULTILINE))
        missing = [s for s in RUNBOOK_SECTIONS if s not in headings]
        if missing:
            findings.append(Finding("runbook-sections", f"runbooks/{path.name} lacks section(s) {', '.join(missing)}"))
    return findings
