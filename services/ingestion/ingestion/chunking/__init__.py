"""Sections to overlapping token windows (the embedder's own WordPiece tokenizer counts the tokens)."""

from ingestion.chunking.chunker import Chunk, Chunker, embedded_text

__all__ = ["Chunk", "Chunker", "embedded_text"]
