"""Chunk by structure, then by size: a chunk never crosses a section (heading or page), and a long section is cut
into windows of at most `max_tokens` tokens that overlap by `overlap_tokens`.

Tokens are the embedder's: all-MiniLM-L6-v2's WordPiece tokenizer, read from the file the embedder ships
(aiaas_embedder/data/minilm_tokenizer.json), counted without [CLS]/[SEP]. The model reads at most 256 tokens, so
a window of 200 plus the section path it is embedded with fits. A window's end is pulled back to the last line or
sentence break in its final 40 %, so chunks end at a boundary where the text has one; its start (after the
first) is `overlap_tokens` before the previous end, moved to the start of a word.

A chunk's `content_sha256` hashes what is embedded (section path, newline, content): equal hashes mean equal
vectors, which re-ingest reuses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files

from tokenizers import Tokenizer

from ingestion.parsing import ParsedDocument, Section

__all__ = ["Chunk", "Chunker", "embedded_text", "load_tokenizer"]


def load_tokenizer() -> Tokenizer:
    """The embedder's tokenizer, without the truncation and padding the embedder sets on its own copy."""
    path = files("aiaas_embedder").joinpath("data", "minilm_tokenizer.json")
    tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    # The file itself truncates at 128 and pads: a chunker counting tokens must see all of them.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def embedded_text(section_path: str, content: str) -> str:
    """What the embedder reads of a chunk: the heading path gives a short chunk its context."""
    return f"{section_path}\n{content}" if section_path else content


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    content: str
    section_path: str
    page: int | None
    tokens: int

    @property
    def embedded_text(self) -> str:
        return embedded_text(self.section_path, self.content)

    @property
    def content_sha256(self) -> str:
        return hashlib.sha256(self.embedded_text.encode("utf-8")).hexdigest()


class Chunker:
    def __init__(self, max_tokens: int = 200, overlap_tokens: int = 40, tokenizer: Tokenizer | None = None) -> None:
        if not 0 <= overlap_tokens < max_tokens:
            raise ValueError("overlap_tokens must be in [0, max_tokens)")
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self._tokenizer = tokenizer or load_tokenizer()

    def chunks(self, document: ParsedDocument) -> list[Chunk]:
        out: list[Chunk] = []
        for section in document.sections:
            for content, tokens in self._windows(section):
                out.append(Chunk(len(out), content, section.section_path, section.page, tokens))
        return out

    def _windows(self, section: Section) -> list[tuple[str, int]]:
        text = section.text
        offsets = self._tokenizer.encode(text, add_special_tokens=False).offsets
        n = len(offsets)
        if n == 0:
            return []
        if n <= self.max_tokens:
            return [(text, n)]
        windows: list[tuple[str, int]] = []
        start = 0
        while start < n:
            end = min(n, start + self.max_tokens)
            if end < n:
                end = self._boundary(text, offsets, start, end)
            content = text[offsets[start][0] : offsets[end - 1][1]].strip()
            if content:
                windows.append((content, end - start))
            if end >= n:
                break
            nxt = max(end - self.overlap_tokens, start + 1)
            # Start on a word: WordPiece continuations ("##ing") follow their word without a gap.
            while nxt > start + 1 and nxt < end and offsets[nxt][0] == offsets[nxt - 1][1]:
                nxt -= 1
            start = nxt
        return windows

    def _boundary(self, text: str, offsets: list[tuple[int, int]], start: int, end: int) -> int:
        """The last token index in the window's final 40 % after which the text breaks a line or a sentence."""
        floor = start + int((end - start) * 0.6)
        for cut in range(end, floor, -1):
            prev_end, next_start = offsets[cut - 1][1], offsets[cut][0]
            gap = text[prev_end:next_start]
            if "\n" in gap or (text[prev_end - 1 : prev_end] in ".!?" and gap):
                return cut
        for cut in range(end, floor, -1):
            if offsets[cut][0] > offsets[cut - 1][1]:  # at least between words
                return cut
        return end
