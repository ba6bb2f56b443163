"""Hashed TF-IDF-like term features, identical at training and at serving time.

A request's `terms` (lower-cased words of the last user message, `aiaas.routing.features.terms_of`) give
unigrams and adjacent bigrams; each is hashed with CRC-32 (stable across processes, unlike `hash()`) into
`dim` buckets; a bucket's value is `(1 + log count) * idf[bucket]`, and the vector is L2-normalised. The IDF
vector is fitted on the training prompts and stored in the artifact.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["bucket_counts", "hashed_vector", "sparse_rows"]


def bucket_counts(terms: Sequence[str], dim: int, ngrams: int = 2) -> dict[int, int]:
    """Bucket -> occurrences of the unigrams (and bigrams when `ngrams` >= 2) of `terms`."""
    counts: dict[int, int] = {}
    crc = zlib.crc32
    for term in terms:
        bucket = crc(term.encode()) % dim
        counts[bucket] = counts.get(bucket, 0) + 1
    if ngrams >= 2:
        for left, right in zip(terms, terms[1:], strict=False):
            bucket = crc(f"{left} {right}".encode()) % dim
            counts[bucket] = counts.get(bucket, 0) + 1
    return counts


def hashed_vector(terms: Sequence[str], idf: np.ndarray, ngrams: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The sparse L2-normalised TF-IDF vector of `terms` as (bucket indices, values)."""
    counts = bucket_counts(terms, int(idf.shape[0]), ngrams)
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float32, count=len(counts))
    values = tf * idf[index]
    norm = float(np.linalg.norm(values))
    if norm > 0.0:
        values = values / norm
    return index, values.astype(np.float32)


def sparse_rows(
    term_rows: Sequence[Sequence[str]], idf: np.ndarray, ngrams: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts (data, indices, indptr) of the hashed vectors of many rows, for training."""
    data: list[np.ndarray] = []
    indices: list[np.ndarray] = []
    indptr = [0]
    for terms in term_rows:
        index, values = hashed_vector(terms, idf, ngrams)
        order = np.argsort(index)
        indices.append(index[order])
        data.append(values[order])
        indptr.append(indptr[-1] + len(index))
    return (
        np.concatenate(data) if data else np.zeros(0, dtype=np.float32),
        np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
        np.asarray(indptr, dtype=np.int64),
    )
