"""The RFC 9535 subset: selectors, normalized paths, and the rejection of what it does not implement."""

from __future__ import annotations

import pytest

from evals.jsonpath import JsonPathError, query, values

DOC = {"a": {"b": [1, {"c": 2}], "x y": 3, "it's": 4}, "c": 9}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$", [DOC]),
        ("$.a.b[1].c", [2]),
        ("$.a.b[-1]", [{"c": 2}]),
        ("$.a.b[5]", []),
        ("$['a']['x y']", [3]),
        ('$["a"]["x y"]', [3]),
        ("$.a['it\\'s']", [4]),
        ("$.a.b[*]", [1, {"c": 2}]),
        ("$.a.*", [[1, {"c": 2}], 3, 4]),
        ("$..c", [9, 2]),
        ("$..[0]", [1]),
        ("$.nope.deeper", []),
    ],
)
def test_selectors(expression, expected):
    assert values(expression, DOC) == expected


def test_normalized_paths():
    assert [node.path for node in query("$..c", DOC)] == ["$['c']", "$['a']['b'][1]['c']"]


@pytest.mark.parametrize("expression", ["a.b", "$.a[?@.b]", "$.a[0:2]", "$.a.", "$[", "$.length()"])
def test_unsupported_or_invalid(expression):
    with pytest.raises(JsonPathError, match="JSONPath"):
        values(expression, DOC)
