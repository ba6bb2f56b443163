"""Money field names say their unit: `_minor` (minor units, cents), `_usd` (US dollars), `_per_1k` prices.

Fields renamed to say their unit are refused under their old name at an API's edge (rather than guessed:
the old billing price `input_per_1k` was cents, the old catalogue price `input_price_per_1k` dollars) with
an error that names the new field and its unit. Events keep reading old names (aiaas.events.schemas).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["refuse_renamed"]


def refuse_renamed(value: object, renamed: Mapping[str, str], unit: str) -> object:
    """For a `model_validator(mode="before")`: ValueError naming the new field if `value` uses an old name."""
    if isinstance(value, dict):
        for old, new in renamed.items():
            if old in value:
                raise ValueError(f"{old} was renamed {new}: {unit}")
    return value
