"""aiaas.storable: text and JSON Postgres can store, refused with a ValueError otherwise."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from aiaas.storable import StorableStr, storable_json, storable_text


class _Body(BaseModel):
    name: StorableStr


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "x\udfffy"])
def test_nul_and_lone_surrogates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        storable_text(bad)
    with pytest.raises(ValidationError):
        _Body(name=bad)
    with pytest.raises(ValueError):
        storable_json({"ok": [1, {"deep": bad}]})
    with pytest.raises(ValueError):
        storable_json({bad: 1})


def test_other_text_passes_unchanged() -> None:
    doc = {"type": "object", "properties": {"é 😀\t": {"enum": ["\u0001", None, 1.5, True]}}}
    assert storable_json(doc) is doc
    assert _Body.model_validate_json('{"name": "\\ud83d\\ude00 ok"}').name == "\U0001f600 ok"


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_refused_in_json(number: int) -> None:
    with pytest.raises(ValueError, match="64 bits"):
        storable_json({"minimum": [number]})
    assert storable_json({"minimum": 2**64 - 1, "maximum": -(2**63)}) == {"minimum": 2**64 - 1, "maximum": -(2**63)}
