"""`python deploy/k8s/validate.py`: the repo passes, and every bad fixture fails with its own rule and message.

Each tests/deploy/bad/<rule>/ plants one error; expected.txt names the rule every finding must carry (plus any
knock-on rules listed under `also`) and a message one finding must contain. A rule the validator can emit without
a fixture fails the coverage test, so the validator cannot rot into always passing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VALIDATE = ROOT / "deploy" / "k8s" / "validate.py"
BAD = Path(__file__).parent / "bad"
FIXTURES = sorted(p.name for p in BAD.iterdir() if p.is_dir())
FINDING = re.compile(r"^ERROR \[([a-z-]+)\] (.*)$")
# Rules no fixture can plant: a kustomize build error and stale generated files (tested below).
UNPLANTED = {"kustomize", "generated"}


@dataclass(frozen=True)
class Outcome:
    code: int
    findings: list[tuple[str, str]]
    output: str


def validate(*args: str) -> Outcome:
    done = subprocess.run(  # noqa: S603 - our own validator
        [sys.executable, str(VALIDATE), *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )
    findings = [m.groups() for m in map(FINDING.match, done.stdout.splitlines()) if m]
    return Outcome(done.returncode, [(r, msg) for r, msg in findings], done.stdout + done.stderr)


def expected(name: str) -> tuple[str, str, set[str]]:
    fields = {}
    for line in (BAD / name / "expected.txt").read_text().splitlines():
        key, _, value = line.partition(": ")
        fields[key] = value.split("  #")[0].strip() if key == "also" else value
    also = set(fields.get("also", "").split()) if fields.get("also") else set()
    return fields["rule"], fields["message"], also


@pytest.fixture(scope="module")
def outcomes(k8s_tools: None) -> dict[str, Outcome]:
    """Every fixture in one validator run (yamllint and kubernetes-validate load once), split by its `== DIR`."""
    whole = validate("--target", *(str(BAD / name) for name in FIXTURES))
    sections: dict[str, list[str]] = {}
    current = None
    for line in whole.output.splitlines():
        if line.startswith("== "):
            current = Path(line[3:]).name
            sections[current] = []
        elif current is not None and line.startswith("ERROR "):
            sections[current].append(line)
    assert set(sections) == set(FIXTURES), whole.output
    out = {}
    for name, lines in sections.items():
        findings = [m.groups() for m in map(FINDING.match, lines) if m]
        out[name] = Outcome(1 if findings else 0, [(r, msg) for r, msg in findings], "\n".join(lines))
    return out


def test_the_repo_passes(k8s_tools: None) -> None:
    outcome = validate()
    assert outcome.code == 0, outcome.output
    assert outcome.findings == []
    assert "0 finding(s)" in outcome.output


@pytest.mark.parametrize("name", FIXTURES)
def test_bad_fixture_fails_with_its_message(name: str, outcomes: dict[str, Outcome]) -> None:
    rule, message, also = expected(name)
    outcome = outcomes[name]
    assert outcome.code == 1, outcome.output
    rules = {r for r, _ in outcome.findings}
    assert rule in rules, outcome.output
    assert rules <= {rule} | also, f"more than the planted error: {outcome.output}"
    assert any(message in text for r, text in outcome.findings if r == rule), outcome.output


def test_every_rule_has_a_bad_fixture() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "deploy" / "k8s").rglob("*.py"))
    emitted = set(re.findall(r'Finding\(\s*"([a-z-]+)"', source))
    planted = {expected(name)[0] for name in FIXTURES}
    assert emitted - UNPLANTED <= planted, f"rules without a fixture: {sorted(emitted - UNPLANTED - planted)}"
    assert len(emitted) >= 20  # the scan found the rules at all


def test_a_bad_target_is_a_usage_error() -> None:
    outcome = validate("--target", str(BAD / "no-such-fixture"))
    assert outcome.code == 2
    assert "not a directory" in outcome.output


def test_a_fixture_run_fails_as_a_whole(outcomes: dict[str, Outcome]) -> None:
    whole = validate("--target", str(BAD / "keda-number"), str(BAD / "compose"))
    assert whole.code == 1
    assert [r for r, _ in whole.findings] == ["keda-metadata", "compose"]


def test_generated_manifests_are_current() -> None:
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "deploy" / "k8s" / "generate.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "0 file(s) stale" in done.stdout
