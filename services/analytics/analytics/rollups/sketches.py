"""Latency/TTFT sketches: DDSketch with 1 % relative accuracy, serialized compactly for `bytea` columns.

Any quantile read from a sketch is within `RELATIVE_ACCURACY` (1 %) of the true value
at that rank (the element at index floor(q * (n - 1)) of the sorted values, numpy's
`method="lower"`). Merging adds bin counts, so a merged sketch equals the sketch of all
values: percentiles over a range come from merging its rows, never from averaging.

Wire format (little-endian), version 1, positive values and zeros only (latencies are >= 0):
    magic b"DDS" | version u8 | relative_accuracy f64 | zero_count f64 | first_key i32 | n u32 | n x f64 counts
The `ddsketch` protobuf encoding would need `protobuf`, which is not installed; this one
stores the same mapping parameters and store bins.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable

from ddsketch import DDSketch, LogarithmicMapping
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.store import DenseStore

__all__ = ["RELATIVE_ACCURACY", "new_sketch", "encode", "decode", "merge_all", "quantiles"]

RELATIVE_ACCURACY = 0.01
_MAGIC = b"DDS"
_VERSION = 1
_HEADER = struct.Struct("<3sBddiI")


def new_sketch() -> BaseDDSketch:
    return DDSketch(RELATIVE_ACCURACY)


def _positive_store(sketch: BaseDDSketch) -> DenseStore:
    # The library exposes no accessor for its stores; its own protobuf codec reads them the same way.
    if sketch._negative_store.count:  # noqa: SLF001
        raise ValueError("negative values cannot be stored in a latency sketch")
    store = sketch._store  # noqa: SLF001
    assert isinstance(store, DenseStore)
    return store


def encode(sketch: BaseDDSketch) -> bytes:
    """Serialize `sketch` (bins between the lowest and highest non-empty one)."""
    store = _positive_store(sketch)
    bins = store.bins
    nonzero = [i for i, count in enumerate(bins) if count]
    counts = array("d", bins[nonzero[0] : nonzero[-1] + 1] if nonzero else [])
    first_key = store.offset + nonzero[0] if nonzero else 0
    header = _HEADER.pack(_MAGIC, _VERSION, RELATIVE_ACCURACY, float(sketch._zero_count), first_key, len(counts))  # noqa: SLF001
    return header + counts.tobytes()


def decode(raw: bytes) -> BaseDDSketch:
    """The sketch `encode` wrote; raises ValueError on anything else."""
    if len(raw) < _HEADER.size:
        raise ValueError("sketch too short")
    magic, version, accuracy, zero_count, first_key, n = _HEADER.unpack_from(raw)
    if magic != _MAGIC or version != _VERSION or accuracy != RELATIVE_ACCURACY:
        raise ValueError(f"unsupported sketch (magic {magic!r}, version {version}, accuracy {accuracy})")
    counts = array("d")
    counts.frombytes(raw[_HEADER.size :])
    if len(counts) != n:
        raise ValueError("sketch length does not match its header")
    store = DenseStore()
    for i, count in enumerate(counts):
        if count:
            store.add(first_key + i, count)
    return BaseDDSketch(LogarithmicMapping(RELATIVE_ACCURACY), store, DenseStore(), zero_count)


def merge_all(sketches: Iterable[BaseDDSketch]) -> BaseDDSketch:
    merged = new_sketch()
    for sketch in sketches:
        merged.merge(sketch)
    return merged


def quantiles(sketch: BaseDDSketch, qs: Iterable[float] = (0.5, 0.95, 0.99)) -> list[float | None]:
    """Quantile values (None for an empty sketch)."""
    if not sketch.count:
        return [None for _ in qs]
    return [sketch.get_quantile_value(q) for q in qs]
