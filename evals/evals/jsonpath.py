"""The subset of RFC 9535 JSONPath that golden tasks use, evaluated over plain JSON values.

`jsonpath-rfc9535` (the reference implementation on the index) needs Python 3.12, so this module implements
the selectors the tasks need: the root `$`; name selectors `.name` and `['name']` / `["name"]`; index
selectors `[0]`, `[-1]`; the wildcard `.*` / `[*]`; and the descendant segment `..name` / `..*` / `..[0]`.
Filters, slices and function extensions are rejected with `JsonPathError` rather than half-supported.
A query returns the nodelist: (normalized path, value) pairs in document order, as RFC 9535 defines it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["JsonPathError", "Node", "compile_path", "query", "values"]

_TOKEN = re.compile(
    r"""(?P<desc>\.\.)?(?:
        \.(?P<dotname>[A-Za-z_][A-Za-z0-9_-]*)
      | \.(?P<dotwild>\*)
      | \[(?P<index>-?\d+)\]
      | \[(?P<brwild>\*)\]
      | \['(?P<sq>(?:[^'\\]|\\.)*)'\]
      | \["(?P<dq>(?:[^"\\]|\\.)*)"\]
    )""",
    re.VERBOSE,
)
_DESC_BARE = re.compile(r"\.\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*|\*)")


class JsonPathError(ValueError):
    """The expression is not valid JSONPath, or uses a selector this subset does not implement."""


@dataclass(frozen=True, slots=True)
class Node:
    path: str
    value: Any


@dataclass(frozen=True, slots=True)
class _Segment:
    descendant: bool
    kind: str  # "name" | "index" | "wild"
    key: str | int | None


@lru_cache(maxsize=512)
def compile_path(expression: str) -> tuple[_Segment, ...]:
    """The segments of `expression`, or JsonPathError naming the position that does not parse."""
    if not expression.startswith("$"):
        raise JsonPathError(f"JSONPath {expression!r} must start with '$'")
    segments: list[_Segment] = []
    pos = 1
    while pos < len(expression):
        bare = _DESC_BARE.match(expression, pos)
        if bare is not None:
            name = bare.group("name")
            segments.append(_Segment(True, "wild", None) if name == "*" else _Segment(True, "name", name))
            pos = bare.end()
            continue
        match = _TOKEN.match(expression, pos)
        if match is None:
            raise JsonPathError(f"JSONPath {expression!r}: unsupported or invalid selector at position {pos}")
        descendant = match.group("desc") is not None
        if match.group("dotname") is not None:
            segments.append(_Segment(descendant, "name", match.group("dotname")))
        elif match.group("index") is not None:
            segments.append(_Segment(descendant, "index", int(match.group("index"))))
        elif match.group("dotwild") or match.group("brwild"):
            segments.append(_Segment(descendant, "wild", None))
        else:
            quoted = match.group("sq") if match.group("sq") is not None else match.group("dq")
            segments.append(_Segment(descendant, "name", re.sub(r"\\(.)", r"\1", quoted)))
        pos = match.end()
    return tuple(segments)


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node.value, dict):
        for key, value in node.value.items():
            yield Node(f"{node.path}[{_quote(key)}]", value)
    elif isinstance(node.value, list):
        for index, value in enumerate(node.value):
            yield Node(f"{node.path}[{index}]", value)


def _descendants(node: Node) -> Iterator[Node]:
    """`node` and everything under it, in document order."""
    yield node
    for child in _children(node):
        yield from _descendants(child)


def _quote(key: str) -> str:
    return "'" + str(key).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _select(node: Node, segment: _Segment) -> Iterator[Node]:
    value = node.value
    if segment.kind == "wild":
        yield from _children(node)
    elif segment.kind == "name" and isinstance(value, dict) and segment.key in value:
        yield Node(f"{node.path}[{_quote(str(segment.key))}]", value[segment.key])
    elif segment.kind == "index" and isinstance(value, list) and isinstance(segment.key, int):
        index = segment.key if segment.key >= 0 else len(value) + segment.key
        if 0 <= index < len(value):
            yield Node(f"{node.path}[{index}]", value[index])


def query(expression: str, document: Any) -> list[Node]:
    """The nodelist `expression` selects from `document` (empty when nothing matches)."""
    nodes = [Node("$", document)]
    for segment in compile_path(expression):
        selected: list[Node] = []
        for node in nodes:
            sources = _descendants(node) if segment.descendant else iter((node,))
            for source in sources:
                selected.extend(_select(source, segment))
        nodes = selected
    return nodes


def values(expression: str, document: Any) -> list[Any]:
    return [node.value for node in query(expression, document)]
