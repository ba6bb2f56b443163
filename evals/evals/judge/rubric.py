"""Rubrics as the judge uses them: `name@vN` files of weighted boolean criteria, and the score code computes.

The score is weighted met / total weight over the rubric's criteria, from the judge's per-criterion `met` only:
whatever verdict or score a judge states is never read.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.loader import RUBRICS_DIR, load_rubric

__all__ = ["Rubric", "load", "weighted_score"]

_REF = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}@v[1-9][0-9]*$")


@dataclass(frozen=True, slots=True)
class Rubric:
    """A loaded rubric. `digest` hashes its criteria so an edited file never reuses cached verdicts."""

    ref: str
    answer: str  # "text": the output's text is judged; "output": the whole output, as JSON
    criteria: tuple[dict[str, Any], ...]
    digest: str

    @property
    def ids(self) -> list[str]:
        return [str(criterion["id"]) for criterion in self.criteria]

    @property
    def weights(self) -> dict[str, float]:
        return {str(c["id"]): float(c.get("weight", 1.0)) for c in self.criteria}


def load(ref: str, rubrics_dir: Path = RUBRICS_DIR) -> Rubric:
    """The rubric `<name>@v<n>`; ValueError for a malformed reference, TaskFileError for a bad file."""
    if not _REF.match(ref):
        raise ValueError(f"rubric reference {ref!r} is not of the form <name>@v<n>")
    data = load_rubric(ref, rubrics_dir)
    criteria = tuple(data["criteria"])
    if sum(float(c.get("weight", 1.0)) for c in criteria) <= 0:
        raise ValueError(f"rubric {ref}: the criteria's weights sum to 0, so no score can be computed")
    canonical = json.dumps([data["answer"], criteria], sort_keys=True, ensure_ascii=False)
    return Rubric(ref, str(data["answer"]), criteria, hashlib.sha256(canonical.encode()).hexdigest())


def weighted_score(weights: dict[str, float], met: dict[str, bool]) -> float:
    """Weighted met / total weight; `met` must hold exactly the criteria of `weights`."""
    if set(met) != set(weights):
        raise ValueError(f"verdicts for {sorted(met)}, criteria {sorted(weights)}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("the criteria's weights sum to 0")
    return sum(weight for criterion, weight in weights.items() if met[criterion]) / total
