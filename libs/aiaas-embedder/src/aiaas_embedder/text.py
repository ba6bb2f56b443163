"""Which text of a chat request is embedded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["query_text"]


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
        text = text.strip()
        return text or None
    return None
