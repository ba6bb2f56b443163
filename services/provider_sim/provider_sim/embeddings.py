"""Deterministic unit-norm embedding vectors.

A vector is a dense pseudo-random component derived from the whole text plus a
hashed bag of its lower-cased words, then normalised to length 1. Texts that
share words therefore have a higher cosine similarity, which keeps retrieval
tests meaningful; the same text always gives the same vector.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from functools import lru_cache

__all__ = ["embed", "encode_base64"]

_WORD_RE = re.compile(r"\w+")
_DENSE_NORM = 1.0  # expected length of the dense part; each word adds length 2
_SLOTS_PER_WORD = 4


@lru_cache(maxsize=65536)
def _word_slots(word: str) -> tuple[tuple[int, float], ...]:
    """Hashed (position, sign) pairs of one word; positions are taken modulo the dimension later."""
    digest = hashlib.blake2b(word.encode(), digest_size=4 * _SLOTS_PER_WORD).digest()
    return tuple(
        (int.from_bytes(digest[i : i + 4], "big") >> 1, 1.0 if digest[i] & 1 else -1.0)
        for i in range(0, len(digest), 4)
    )


def embed(text: str, dimensions: int) -> list[float]:
    """The unit-norm vector of `text` with `dimensions` components."""
    # Dense part: uniform int16 noise from one SHAKE digest, scaled to an expected length of _DENSE_NORM.
    noise = hashlib.shake_128(text.encode()).digest(2 * dimensions)
    scale = _DENSE_NORM / (32768 * math.sqrt(dimensions / 3))
    vector = [value * scale for value in struct.unpack(f"<{dimensions}h", noise)]
    for word in _WORD_RE.findall(text.lower()):
        for position, sign in _word_slots(word):
            vector[position % dimensions] += sign
    norm = math.sqrt(math.fsum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def encode_base64(vector: list[float]) -> str:
    """Little-endian float32 bytes, base64-encoded, as `encoding_format="base64"` expects."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
