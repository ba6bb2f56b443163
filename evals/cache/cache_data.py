"""Loaders for the cache evaluation's public sets, read in place from the shared data directory (never copied).

Layout (see the data directory's MANIFEST.md): <data>/semantic-cache/{gptcache_similiar_qqp_full.tar.gz (holds
examples/benchmark/similiar_qqp_full.json), gptcache_mock_data.json, osschat_cluster_user_questions.json}.
Every text comes back as the gateway embeds and verifies it: `aiaas_embedder.normalise_question` (QQP's split is
decided on the raw texts, as the issue defines it).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiaas.semcache.splits import component_halves, sample_half
from aiaas_embedder import normalise_question

QQP_ARCHIVE = "gptcache_similiar_qqp_full.tar.gz"
QQP_MEMBER = "examples/benchmark/similiar_qqp_full.json"
MOCK = "gptcache_mock_data.json"
OSSCHAT = "osschat_cluster_user_questions.json"
FILES = (QQP_ARCHIVE, MOCK, OSSCHAT)
HALF_SIZE = 5000


class DataMissing(RuntimeError):
    """The shared data directory or one of its files is absent."""


@dataclass(frozen=True, slots=True)
class PairSet:
    a: list[str]
    b: list[str]
    labels: list[int]


def semantic_dir(data_dir: Path) -> Path:
    folder = data_dir / "semantic-cache"
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise DataMissing(
            f"cache-eval needs the public sets in {folder} (missing: {', '.join(missing)}); "
            "pass --data-dir or set CACHE_EVAL_DATA to the shared data directory (see its MANIFEST.md)"
        )
    return folder


def file_hashes(data_dir: Path) -> dict[str, str]:
    folder = semantic_dir(data_dir)
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


def qqp_rows(data_dir: Path) -> list[dict[str, Any]]:
    with tarfile.open(semantic_dir(data_dir) / QQP_ARCHIVE, "r:gz") as archive:
        member = archive.extractfile(QQP_MEMBER)
        if member is None:
            raise DataMissing(f"{QQP_ARCHIVE} holds no {QQP_MEMBER}")
        rows: list[dict[str, Any]] = json.load(member)
    return rows


def qqp_halves(data_dir: Path, size: int = HALF_SIZE) -> tuple[PairSet, PairSet]:
    """(train, test): `size` pairs of each component half, `random.Random(0).sample` in file order."""
    rows = qqp_rows(data_dir)
    flags = component_halves([(r["text_a"], r["text_b"]) for r in rows])
    halves = []
    for want_test in (False, True):
        picked = [rows[i] for i in sample_half(flags, want_test, size, seed=0)]
        halves.append(
            PairSet(
                [normalise_question(r["text_a"]) for r in picked],
                [normalise_question(r["text_b"]) for r in picked],
                [int(r["label"]) for r in picked],
            )
        )
    return halves[0], halves[1]


def gptcache_mock(data_dir: Path) -> tuple[list[str], list[str]]:
    rows = json.loads((semantic_dir(data_dir) / MOCK).read_text(encoding="utf-8"))
    return [normalise_question(r["origin"]) for r in rows], [normalise_question(r["similar"]) for r in rows]


def osschat_clusters(data_dir: Path) -> list[list[str]]:
    clusters: list[list[str]] = json.loads((semantic_dir(data_dir) / OSSCHAT).read_text(encoding="utf-8"))
    return [[normalise_question(q) for q in cluster] for cluster in clusters]
