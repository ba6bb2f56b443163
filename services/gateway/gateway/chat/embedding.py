"""One request's embedding, computed at most once and shared by the semantic cache and the router.

`RequestEmbedding(embedder, messages)`: `text` is what is embedded (`aiaas_embedder.query_text`: the last
user message's text), `await get()` the L2-normalised vector (384-d float32), encoded off the event loop
(the embedder's thread pool) on first use and memoised; None without an embedder or without user text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from aiaas_embedder import default_embedder, query_text

__all__ = ["Embedder", "RequestEmbedding", "load_embedder"]

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the gateway uses of `aiaas_embedder.default_embedder()`."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def aencode(self, texts: list[str]) -> np.ndarray: ...


class RequestEmbedding:
    """The request's embedding, memoised (concurrent callers share one encode)."""

    __slots__ = ("_embedder", "_messages", "_text", "_task", "_computed")

    def __init__(self, embedder: Embedder | None, messages: Sequence[Any]) -> None:
        self._embedder = embedder
        self._messages = messages
        self._text: str | None = None
        self._computed = False
        self._task: asyncio.Future[np.ndarray | None] | None = None

    @property
    def text(self) -> str | None:
        """The text that is embedded (None: the request has no user text)."""
        if not self._computed:
            self._text = query_text(list(self._messages))
            self._computed = True
        return self._text

    @property
    def available(self) -> bool:
        return self._embedder is not None and self.text is not None

    async def get(self) -> np.ndarray | None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._encode())
            self._task.add_done_callback(_retrieved)
        return await asyncio.shield(self._task)

    async def _encode(self) -> np.ndarray | None:
        text = self.text
        if self._embedder is None or text is None:
            return None
        vectors = await self._embedder.aencode([text])
        return np.asarray(vectors[0], dtype=np.float32)


def _retrieved(task: asyncio.Future[np.ndarray | None]) -> None:
    # A failed encode is raised to each caller of get(); with none left, it is not an unretrieved-exception warning.
    if not task.cancelled():
        task.exception()


async def load_embedder() -> Embedder | None:
    """The process's embedder, loaded (hashes checked) and warmed off the event loop; None if it cannot load.

    Nothing is downloaded: the model and tokenizer come from installed packages. Without an embedder the
    semantic cache is off (the exact tier still serves) and the router gets no embedding.
    """
    try:
        embedder: Embedder = default_embedder()
        await embedder.aencode(["warm up"])
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        log.error("the request embedder did not load: semantic cache off", extra={"error": repr(exc)})
        return None
    return embedder
