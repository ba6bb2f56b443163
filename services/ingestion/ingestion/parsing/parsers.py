"""Sniff a file's type from its bytes and parse it into sections: text, heading path, PDF page.

- Markdown (markdown-it-py, CommonMark + tables): each heading opens a section whose path is the headings above
  it and its own; inline markup is reduced to its text.
- HTML: trafilatura keeps the main content (no navigation, footer, cookie banners) and writes it as Markdown,
  which is then parsed as above, so `<h1>`..`<h6>` become the section path.
- PDF (pypdf): one section per page with text, numbered from 1. A corrupt or encrypted file raises
  `UnparsableDocument`.
- Plain text: one section.

The client's file name and Content-Type are not trusted: the bytes decide (PDF magic, known binary magics,
NUL bytes, an HTML root element), and a `.md`/`.markdown` name or Markdown headings tell Markdown from plain text.
Text must be UTF-8 (a BOM is allowed, so is UTF-16 with its BOM); anything else is `UnparsableDocument`.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ingestion.parsing.errors import UnparsableDocument, UnsupportedMediaType

__all__ = ["MEDIA_TYPES", "MARKDOWN", "HTML", "PDF", "TEXT", "Section", "ParsedDocument", "sniff", "parse"]

MARKDOWN = "text/markdown"
HTML = "text/html"
PDF = "application/pdf"
TEXT = "text/plain"
MEDIA_TYPES = (MARKDOWN, HTML, PDF, TEXT)

log = logging.getLogger(__name__)

# Magic numbers of binary types people upload by mistake (images, archives, office files, executables, audio).
_BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\xd0\xcf\x11\xe0",
    b"\x7fELF",
    b"MZ",
    b"RIFF",
    b"ID3",
    b"OggS",
    b"fLaC",
    b"BZh",
    b"\xfd7zXZ",
    b"II*\x00",
    b"MM\x00*",
    b"wOFF",
    b"\x00asm",
)
_HTML_ROOT = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_MARKDOWN_HINT = re.compile(r"^(?:#{1,6}\s+\S|```|~~~|\s*[-*+]\s+\[[ xX]\]\s)|\]\([^)\s]+\)", re.M)
_MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
# C0/C1 controls other than tab and newline: Postgres refuses NUL, the others are noise in chunks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (Markdown, HTML) or on one page (PDF)."""

    text: str
    path: tuple[str, ...] = ()
    page: int | None = None

    @property
    def section_path(self) -> str:
        return " > ".join(self.path)


@dataclass(frozen=True)
class ParsedDocument:
    media_type: str
    sections: tuple[Section, ...]

    @property
    def text(self) -> str:
        """The document's text, sections in order (what tests compare to the expected text)."""
        return "\n\n".join(section.text for section in self.sections)


def sniff(data: bytes, filename: str = "") -> str:
    """The media type of `data` (one of MEDIA_TYPES); UnsupportedMediaType for other binaries."""
    head = data[:1024]
    if b"%PDF-" in head:
        return PDF
    if head.startswith(_BINARY_MAGIC) or head.startswith(b"%!PS"):
        raise UnsupportedMediaType("The file's type is not supported: upload Markdown, HTML, PDF or plain text.")
    if not data.strip():
        raise UnparsableDocument("The file is empty.")
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedMediaType("The file is binary: upload Markdown, HTML, PDF or plain text.")
    text = decode_text(data[:4096], partial=True)
    if _HTML_ROOT.match(text.encode()):
        return HTML
    if filename.lower().endswith(_MARKDOWN_SUFFIXES) or _MARKDOWN_HINT.search(text):
        return MARKDOWN
    return TEXT


def decode_text(data: bytes, *, partial: bool = False) -> str:
    """UTF-8 (BOM allowed) or BOM-marked UTF-16; `partial` tolerates a character cut at the end of `data`."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        if partial and exc.start >= len(data) - 3 and exc.reason.startswith("unexpected end"):
            return data[: exc.start].decode(encoding)
        raise UnparsableDocument("The file's text is not valid UTF-8.") from exc


def clean(text: str) -> str:
    """NFC, no control characters or lone surrogates, runs of spaces collapsed, at most one blank line in a row."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def parse(data: bytes, filename: str = "", media_type: str | None = None) -> ParsedDocument:
    """`data` as sections (the type sniffed unless given); UnparsableDocument when no text comes out."""
    kind = media_type or sniff(data, filename)
    if kind == PDF:
        sections = _pdf(data)
    elif kind == HTML:
        sections = _html(decode_text(data))
    elif kind == MARKDOWN:
        sections = markdown_sections(decode_text(data))
    elif kind == TEXT:
        sections = [Section(clean(decode_text(data)))]
    else:
        raise UnsupportedMediaType("The file's type is not supported: upload Markdown, HTML, PDF or plain text.")
    kept = tuple(section for section in sections if section.text)
    if not kept:
        raise UnparsableDocument("The file holds no text to index.")
    return ParsedDocument(kind, kept)


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content if child.type != "html_inline" else "")
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)


def markdown_sections(source: str) -> list[Section]:
    """Sections of a Markdown text, each with the path of headings it sits under."""
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(source)
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    blocks: list[str] = []
    row: list[str] = []

    def flush() -> None:
        text = clean("\n\n".join(blocks))
        if text:
            sections.append(Section(text, tuple(title for _, title in path)))
        blocks.clear()

    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "heading_open":
            flush()
            level = int(token.tag[1:])
            title = clean(_inline_text(tokens[index + 1]))
            while path and path[-1][0] >= level:
                path.pop()
            if title:
                path.append((level, title))
            index += 3
            continue
        if token.type in ("tr_open",):
            row.clear()
        elif token.type == "tr_close":
            blocks.append(" | ".join(row))
        elif token.type == "inline":
            text = _inline_text(token)
            inside_cell = index > 0 and tokens[index - 1].type in ("th_open", "td_open")
            if inside_cell:
                row.append(text)
            else:
                blocks.append(text)
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content)
        index += 1
    flush()
    return sections


def _html(source: str) -> list[Section]:
    import trafilatura

    extracted = trafilatura.extract(
        source, output_format="markdown", include_comments=False, include_tables=True, favor_recall=True
    )
    if extracted and extracted.strip():
        return markdown_sections(extracted)
    # Too little for trafilatura's main-content heuristics (a short page): the page's whole text.
    text = trafilatura.html2txt(source)
    return [Section(clean(text or ""))]


def _pdf(data: bytes) -> list[Section]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UnparsableDocument("The PDF is encrypted.")
        sections = [
            Section(clean(page.extract_text() or ""), page=number) for number, page in enumerate(reader.pages, 1)
        ]
    except UnparsableDocument:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types (PdfReadError, ValueError, KeyError...)
        log.info("pdf not parsed", extra={"error": repr(exc)[:200]})
        raise UnparsableDocument("The PDF is corrupt or cannot be read.") from exc
    return sections
