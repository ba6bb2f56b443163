"""One request's embedding, computed at most once and shared by the semantic cache and the router.

`RequestEmbedding(embedder, messages)`: `text` is what is embedded (`aiaas_embedder.query_text`: the last
user message's text), `await get()` the L2-normalised vector (384-d float32), encoded on first use and memoised;
None without an embedder or without user text. A short text (at most `INLINE_MAX_TOKENS` tokens) is encoded on the
event loop while the embedder's thread is idle, anything longer (or while it is busy) on that thread: see
`aiaas_embedder.Embedder.aencode`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from aiaas_embedder import default_embedder, query_text

__all__ = ["INLINE_MAX_TOKENS", "Embedder", "RequestEmbedding", "load_embedder"]

log = logging.getLogger(__name__)

# A short query's encode holds the event loop ~2.5-4 ms (up to 32 tokens, int8, one core) instead of paying two
# thread hand-offs: 0.15 ms on a quiet core, several on a loaded one (encode p50 at 30 ms pacing, load 6.5: 8.4 ms
# inline vs 12.0 ms through the thread), where a semantic miss's path is otherwise the encode plus one search.
INLINE_MAX_TOKENS = 32


class Embedder(Protocol):
    """What the gateway uses of `aiaas_embedder.default_embedder()`."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def aencode(self, texts: list[str], *, inline_max_tokens: int = 0) -> np.ndarray: ...


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
        vectors = await self._embedder.aencode([text], inline_max_tokens=INLINE_MAX_TOKENS)
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
