"""Sentence embeddings for the semantic cache and the router: one model, loaded from installed files.

`default_embedder()` is the process's embedder (all-MiniLM-L6-v2, 384-d, mean pooling, L2-normalised);
`query_text(messages)` is the text of a chat request that gets embedded; `EmbeddingCache` keeps offline
evaluations from encoding the same text twice.
"""

from aiaas_embedder.cache import EmbeddingCache
from aiaas_embedder.model import EMBEDDER_NAME, Embedder, EmbedderError, default_embedder
from aiaas_embedder.text import normalise_question, query_text

__all__ = [
    "EMBEDDER_NAME",
    "Embedder",
    "EmbedderError",
    "EmbeddingCache",
    "default_embedder",
    "normalise_question",
    "query_text",
]
