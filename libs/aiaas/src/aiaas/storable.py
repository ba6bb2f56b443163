"""Text Postgres can store: no U+0000 (neither `text` nor `jsonb` accepts it) and no lone surrogate
(not valid UTF-8); JSON documents also with integers in 64 bits (orjson, which writes our jsonb and KV
documents, refuses larger ones). For validators at an API's edge: such input is a 422, not a 500.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import AfterValidator

__all__ = ["StorableStr", "storable_json", "storable_text"]

# orjson writes integers from -2**63 to 2**64 - 1.
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1

T = TypeVar("T")


def storable_text(value: str) -> str:
    """`value`, or ValueError when Postgres could not store it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (U+0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def storable_json(value: T) -> T:
    """`value` (decoded JSON), or ValueError when one of its strings or keys is not `storable_text` or
    one of its integers does not fit in 64 bits."""
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            storable_text(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not _INT64_MIN <= item <= _UINT64_MAX:
            raise ValueError("integers must fit in 64 bits")
    return value


StorableStr = Annotated[str, AfterValidator(storable_text)]
