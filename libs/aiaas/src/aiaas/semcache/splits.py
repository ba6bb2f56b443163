"""Fixed, reproducible splits for the cache evaluation (pure functions; `evals/cache` applies them to the data).

QQP halves follow the router's "rcb-v1" convention: pairs are grouped by connected component of the question graph
(questions are nodes, every labelled pair is an edge, whatever its label), so no question sits on both sides; the
component's lexicographically smallest question `s` (text stripped of surrounding whitespace) decides its half:
test when `int(sha256(("rcb-v1" + s).encode("utf-8")).hexdigest(), 16) % 2 == 1`, train (public) otherwise.
Each half is then sampled with `random.Random(0).sample(half_in_file_order, 5000)`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

__all__ = ["SALT", "component_halves", "is_test_key", "sample_half", "zipf_weights"]

SALT = "rcb-v1"


def is_test_key(key: str) -> bool:
    """True when a component whose smallest question is `key` belongs to the test half."""
    return int(hashlib.sha256((SALT + key).encode("utf-8")).hexdigest(), 16) % 2 == 1


def _find(parent: dict[str, str], node: str) -> str:
    root = node
    while parent[root] != root:
        root = parent[root]
    while parent[node] != root:
        parent[node], node = root, parent[node]
    return root


def component_halves(pairs: Sequence[tuple[str, str]]) -> list[bool]:
    """For each pair, True when its question-graph component falls in the test half (see the module docstring)."""
    parent: dict[str, str] = {}
    for a, b in pairs:
        a, b = a.strip(), b.strip()
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    smallest: dict[str, str] = {}
    for node in parent:
        root = _find(parent, node)
        if node < smallest.get(root, node + "\uffff"):
            smallest[root] = node
    return [is_test_key(smallest[_find(parent, a.strip())]) for a, _ in pairs]


def sample_half(flags: Sequence[bool], want_test: bool, n: int, seed: int = 0) -> list[int]:
    """Indices of `n` pairs of one half: `random.Random(seed).sample` over that half's indices in file order."""
    population = [i for i, flag in enumerate(flags) if flag == want_test]
    if len(population) < n:
        raise ValueError(f"half has {len(population)} pairs, fewer than the {n} asked for")
    return random.Random(seed).sample(population, n)


def zipf_weights(n: int, s: float) -> list[float]:
    """Unnormalised Zipf weights 1 / rank**s for ranks 1..n."""
    return [1.0 / (rank**s) for rank in range(1, n + 1)]
