"""Uploaded bytes to sections of text: the type sniffed from the bytes, then Markdown, HTML, PDF or plain text."""

from ingestion.parsing.errors import ParseError, UnparsableDocument, UnsupportedMediaType
from ingestion.parsing.parsers import MEDIA_TYPES, ParsedDocument, Section, parse, sniff

__all__ = [
    "MEDIA_TYPES",
    "ParseError",
    "ParsedDocument",
    "Section",
    "UnparsableDocument",
    "UnsupportedMediaType",
    "parse",
    "sniff",
]
