"""The judge's verdict cache: one JSON file per (judge model, rubric, input, answer as judged, epoch seed).

An unchanged re-run reads every verdict from here and makes no judge call. Files are written to a temporary
name in the same directory and renamed over the target, so a reader never sees half a file, and concurrent
writers of one key (same inputs, same verdict) simply replace each other. Verdicts are stored, not scores: the
score is recomputed from them by code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["VerdictCache", "cache_key"]


def cache_key(
    *,
    model: str,
    rubric_ref: str,
    rubric_digest: str,
    prompt_version: str,
    input_messages: list[dict[str, Any]],
    answer: str,
    epoch: int,
    seed: int,
) -> str:
    """sha256 over the canonical JSON of everything the verdict depends on."""
    material = {
        "model": model,
        "rubric": rubric_ref,
        "rubric_digest": rubric_digest,
        "prompt": prompt_version,
        "input": input_messages,
        "answer": answer,
        "epoch": epoch,
        "seed": seed,
    }
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class VerdictCache:
    """`<dir>/<key[:2]>/<key>.json` holding `{"key", "verdicts"}`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The stored verdicts, or None (absent, or unreadable: then the judge is asked again and it is rewritten)."""
        try:
            stored = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("verdicts"), list):
            return None
        verdicts: list[dict[str, Any]] = stored["verdicts"]
        return verdicts

    def put(self, key: str, verdicts: list[dict[str, Any]]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"key": key, "verdicts": verdicts}, sort_keys=True, ensure_ascii=False, indent=1)
        fd, temporary = tempfile.mkstemp(prefix=f".{key[:8]}-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
