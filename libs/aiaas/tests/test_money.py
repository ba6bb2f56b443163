"""aiaas.money: an old, unit-less field name is refused with the new name and its unit, never guessed."""

from __future__ import annotations

import pytest

from aiaas.money import refuse_renamed

RENAMED = {"input_per_1k": "input_minor_per_1k"}


def test_an_old_name_is_refused_naming_the_new_one_and_its_unit() -> None:
    with pytest.raises(ValueError, match="input_per_1k was renamed input_minor_per_1k: cents per 1,000 tokens"):
        refuse_renamed({"input_per_1k": "0.15"}, RENAMED, "cents per 1,000 tokens")


@pytest.mark.parametrize("value", [{"input_minor_per_1k": "0.15"}, "not a dict", None])
def test_anything_else_passes_through_unchanged(value: object) -> None:
    assert refuse_renamed(value, RENAMED, "cents") is value
