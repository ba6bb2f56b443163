"""`python -m evals` as a process: bad input is exit 2 with a message; a malformed task file is exit 2 naming it
(before any service is started); the episode and replay commands are handed their arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evals.cli import main
from evals.loader import GOLDEN_DIR


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "evals", *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "a command is needed"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["gate", "--concurrency", "0"], "0 must be >= 1"),
        (["gate", "--concurrency", "many"], "'many' is not an integer"),
        (["gate", "--set", "temperature=2"], "cannot set 'temperature'"),
        (["gate", "--set", "prompt_version"], "'prompt_version' is not key=value"),
        (["run", "--agent", "billing"], "invalid choice: 'billing'"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_bad_arguments_as_a_process():
    done = run_cli("gate", "--bogus")
    assert done.returncode == 2
    assert "unrecognized arguments: --bogus" in done.stderr


def test_an_unknown_task_id_is_exit_2_naming_it(capsys):
    assert main(["run", "--task", "no-such-task", "--no-judge"]) == 2
    assert "no golden task no-such-task" in capsys.readouterr().err


def _golden_copy(tmp_path: Path) -> Path:
    golden = tmp_path / "golden"
    for agent in ("faq", "order", "lead"):
        (golden / agent).mkdir(parents=True)
    source = GOLDEN_DIR / "order" / "order-fulfil-small.yaml"
    (golden / "order" / source.name).write_text(source.read_text())
    return golden


def test_a_malformed_task_file_is_exit_2_naming_it(tmp_path: Path):
    golden = _golden_copy(tmp_path)
    bad = golden / "lead" / "lead-broken.yaml"
    bad.write_text("id: lead-broken\nagent: lead\ncritical: maybe\n")
    reports = tmp_path / "reports"
    done = run_cli(
        "gate", "--golden-dir", str(golden), "--reports-dir", str(reports), "--baseline", str(tmp_path / "none")
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "lead-broken.yaml" in done.stdout and "task_file" in done.stdout
    report = json.loads((reports / "gate-latest.json").read_text())
    assert report["verdict"] == "error" and report["exit_code"] == 2
    assert report["errors"][0]["kind"] == "task_file" and report["errors"][0]["path"].endswith("lead-broken.yaml")
    assert report["tasks"] == []  # nothing ran: the platform was never started


def test_unparsable_yaml_is_named_with_its_line(tmp_path: Path):
    golden = _golden_copy(tmp_path)
    (golden / "faq" / "faq-bad.yaml").write_text("id: faq-bad\nagent: [faq\n")
    done = run_cli("gate", "--golden-dir", str(golden), "--reports-dir", str(tmp_path / "r"), "--no-judge")
    assert done.returncode == 2
    assert "faq-bad.yaml: at line" in done.stdout and "not valid YAML" in done.stdout


def test_baseline_without_update_shows_the_committed_one_or_says_how_to_make_it():
    done = run_cli("baseline")
    baseline = GOLDEN_DIR.parent / "baseline.json"
    if baseline.is_file():
        assert done.returncode == 0
        assert json.loads(done.stdout)["model"] == json.loads(baseline.read_text())["model"]
    else:
        assert done.returncode == 2 and "--update" in done.stderr


def test_delegated_commands_get_their_arguments(capsys):
    # evals.stress.cli's own parser sees `--bogus` (and its missing --faults): its exit 2, its message
    assert main(["stress", "--bogus"]) == 2
    assert "stress: error" in capsys.readouterr().err


def test_a_delegated_command_whose_module_is_missing_is_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "evals.episodes.cli", None)  # import of it raises ImportError
    assert main(["episodes", "export"]) == 2
    assert "evals.episodes.cli is not available" in capsys.readouterr().err
