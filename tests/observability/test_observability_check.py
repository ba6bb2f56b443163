"""`python observability/check.py`: the repo passes, and every bad fixture fails with its own rule and message.

Each tests/observability/bad/<name>/ holds files laid over a copy of observability/ (one planted error) and
expected.txt: the rule every finding must carry (plus knock-on rules under `also`) and a message one finding
must contain. A rule check.py can emit without a fixture fails the coverage test, so the checker cannot rot
into always passing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "observability"
CHECK = OBS / "check.py"
BAD = Path(__file__).parent / "bad"
FIXTURES = sorted(p.name for p in BAD.iterdir() if p.is_dir())
FINDING = re.compile(r"^ERROR \[([a-z-]+)\] (.*)$")
UNPLANTED = {"generated"}  # only the repo's own tree is compared with generate.py (tested below)


@dataclass
class Outcome:
    code: int
    findings: list[tuple[str, str]]
    output: str


def check(*args: str) -> Outcome:
    done = subprocess.run(  # noqa: S603 - our own checker
        [sys.executable, str(CHECK), *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )
    findings = [m.groups() for m in map(FINDING.match, done.stdout.splitlines()) if m]
    return Outcome(done.returncode, [(r, msg) for r, msg in findings], done.stdout + done.stderr)


def expected(name: str) -> tuple[str, str, set[str]]:
    fields = dict(line.partition(": ")[::2] for line in (BAD / name / "expected.txt").read_text().splitlines())
    return fields["rule"], fields["message"], set(fields.get("also", "").split())


def planted(name: str, tmp: Path) -> Path:
    """observability/ copied, with the fixture's files laid over it."""
    tree = tmp / name
    shutil.copytree(OBS, tree, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (BAD / name).rglob("*"):
        if path.is_file() and path.name != "expected.txt":
            target = tree / path.relative_to(BAD / name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return tree


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    tmp = tmp_path_factory.mktemp("planted")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda name: check("--target", str(planted(name, tmp))), FIXTURES)
        return dict(zip(FIXTURES, results, strict=True))


def test_the_repo_passes() -> None:
    outcome = check()
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
    source = "\n".join(p.read_text() for p in OBS.rglob("*.py"))
    emitted = set(re.findall(r'Finding\(\s*"([a-z-]+)"', source))
    planted_rules = {expected(name)[0] for name in FIXTURES}
    assert emitted - UNPLANTED <= planted_rules, (
        f"rules without a fixture: {sorted(emitted - UNPLANTED - planted_rules)}"
    )
    assert len(emitted) >= 12  # the scan found the rules at all


def test_a_bad_target_is_a_usage_error() -> None:
    outcome = check("--target", str(BAD / "no-such-fixture"))
    assert outcome.code == 2
    assert "not a directory" in outcome.output


def test_generated_files_are_current() -> None:
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(OBS / "generate.py"), "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 file(s) stale" in done.stdout
