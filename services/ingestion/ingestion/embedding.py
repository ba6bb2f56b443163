"""The offline embedder (all-MiniLM-L6-v2 from aiaas_embedder: weights in an installed package, nothing
downloaded) behind the two things the pipeline needs: vectors for texts, and the id stored with each chunk.

The id names the model and its variant: vectors of different ids are not comparable, so a change of model is a
reindex, never a mix. Every text embedded is counted (`ingestion_embedded_texts_total`), and `tokens` counts what
the model reads of a text (its own tokenizer, [CLS]/[SEP] included, cut at its 256): the embedding tokens metered.
"""

from __future__ import annotations

import functools
from typing import cast

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter

from aiaas_embedder.model import MAX_TOKENS, Embedder, Variant, default_embedder
from ingestion.chunking.chunker import load_tokenizer

__all__ = ["ChunkEmbedder", "EMBEDDED_TEXTS", "vector_literal"]

EMBEDDED_TEXTS = Counter("ingestion_embedded_texts_total", "Texts (chunks and queries) the embedder encoded", ["kind"])


def vector_literal(vector: npt.NDArray[np.float32]) -> str:
    """pgvector's text form; 9 significant digits give back the same float32."""
    # One %-format over the whole row: a third of the time of formatting each float apart, the same text.
    return _literal_format(len(vector)) % tuple(vector.tolist())


@functools.cache
def _literal_format(dimension: int) -> str:
    return "[" + ",".join(["%.9g"] * dimension) + "]"


class ChunkEmbedder:
    """Encodes off the event loop (the embedder's own thread) and counts what it encodes."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self.dimension: int = embedder.dim
        self.model_id = f"{embedder.name}/{embedder.variant}"
        # The alias usage events meter embedding tokens under (the variant does not change what is billed).
        self.usage_alias = f"embedding:{embedder.name}"
        self._tokenizer = load_tokenizer()
        # Texts encoded by this instance (tests read it; the metric is the process total).
        self.encoded = 0

    @classmethod
    def default(cls, variant: str = "int8") -> ChunkEmbedder:
        return cls(default_embedder(cast(Variant, variant)))

    async def embed(self, texts: list[str], *, kind: str = "chunk") -> list[str]:
        """Vector literals of `texts`, in order."""
        if not texts:
            return []
        vectors = await self._embedder.aencode(texts)
        self.encoded += len(texts)
        EMBEDDED_TEXTS.labels(kind).inc(len(texts))
        return [vector_literal(v) for v in vectors]

    def tokens(self, texts: list[str]) -> int:
        """The tokens the model reads for `texts`: what embedding them costs."""
        if not texts:
            return 0
        # One text at a time: `encode_batch` fans out to a thread per core, which on the pipeline's few cores takes
        # CPU from the embedder's thread (the pipeline's slowest stage) to save nothing measurable (same counts).
        return sum(min(len(self._tokenizer.encode(text).ids), MAX_TOKENS) for text in texts)
