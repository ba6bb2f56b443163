"""Which text of a chat request is embedded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["normalise_question", "query_text"]

_QUOTES = "\"'“”‘’`"


def normalise_question(text: str) -> str:
    """One question written one way: outer whitespace stripped, and a question pasted in quotes unwrapped.

    `"What is a transformer?"?` and `What is a transformer?` ask the same thing, yet the quotes alone move MiniLM's
    vector to cosine 0.87 of the plain one (below the cache's floor). Quotes inside a question stay.
    """
    text = text.strip()
    asked = text.endswith("?")
    inner = text.rstrip("?").rstrip()
    if not _quoted(inner):
        return text
    while _quoted(inner):
        inner = inner[1:-1].strip()
        asked = asked or inner.endswith("?")
        inner = inner.rstrip("?").rstrip()
    return f"{inner}?" if asked and inner else inner


def _quoted(text: str) -> bool:
    return len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES


def query_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The last user message's text (text parts joined by newlines), or None when there is none.

    One text per request: the semantic cache keys on it and the router's features read its vector.
    """
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = "\n".join(
                part["text"]
                for part in content
                if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str)
            )
        else:
            return None
        text = normalise_question(text)
        return text or None
    return None
