"""`make cache-eval`'s script without the shared data: a clear message and exit code 2, no report written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "evals" / "cache" / "cache_eval.py"


def test_missing_data_dir_exits_2_with_a_message(tmp_path: Path) -> None:
    out = tmp_path / "cache_eval.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "absent"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "cache-eval needs the public sets in" in done.stderr
    assert "gptcache_similiar_qqp_full.tar.gz" in done.stderr
    assert not out.exists()


def test_partial_data_dir_names_the_missing_files(tmp_path: Path) -> None:
    folder = tmp_path / "semantic-cache"
    folder.mkdir()
    (folder / "gptcache_mock_data.json").write_text("[]", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--data-dir", str(tmp_path), "--out", str(tmp_path / "o.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "osschat_cluster_user_questions.json" in done.stderr
    assert "gptcache_mock_data.json" not in done.stderr.split("missing:")[1]
