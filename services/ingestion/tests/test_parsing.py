"""Parsing and chunking (no infrastructure): each fixture type parses to its expected text, bad files raise the
typed error the API maps to 415 or 422, chunks are token windows inside one section."""

from __future__ import annotations

import pytest

from ingestion.chunking import Chunker
from ingestion.chunking.chunker import load_tokenizer
from ingestion.parsing import ParsedDocument, Section, UnparsableDocument, UnsupportedMediaType, parse, sniff
from ingestion.parsing.parsers import HTML, MARKDOWN, PDF, TEXT

from .factories import RETURNS_PAGES, fixture_bytes, minimal_pdf


def test_markdown_headings_become_section_paths_and_markup_is_dropped() -> None:
    doc = parse(fixture_bytes("account-and-billing.md"), "account-and-billing.md")
    assert doc.media_type == MARKDOWN
    paths = [section.path for section in doc.sections]
    assert paths == [
        ("Account and billing",),
        ("Account and billing", "Creating an account"),
        ("Account and billing", "Subscriptions", "Changing your delivery frequency"),
        ("Account and billing", "Subscriptions", "Pausing a subscription"),
        ("Account and billing", "Subscriptions", "Cancelling"),
        ("Account and billing", "Payment methods"),
        ("Account and billing", "Invoices"),
    ]
    frequency = doc.sections[2].text
    assert frequency == (
        "Coffee subscriptions ship every one, two or four weeks. Change the frequency under "
        "Account > Subscription > Frequency; the change applies from the next unshipped box."
    )
    assert "**" not in doc.text and "#" not in doc.text
    assert doc.sections[2].section_path == "Account and billing > Subscriptions > Changing your delivery frequency"


def test_html_keeps_the_main_content_with_its_headings_and_drops_nav_and_footer() -> None:
    doc = parse(fixture_bytes("shipping.html"), "shipping.html")
    assert doc.media_type == HTML
    assert [section.path for section in doc.sections] == [
        ("Shipping and delivery",),
        ("Shipping and delivery", "Delivery times"),
        ("Shipping and delivery", "Shipping costs"),
        ("Shipping and delivery", "Tracking your parcel"),
    ]
    assert "customs duties and import taxes are paid by the recipient" in doc.text
    for boilerplate in ("Shop all coffee", "Log in", "Copyright", "Cookie settings", "newsletter"):
        assert boilerplate not in doc.text


def test_pdf_pages_are_numbered_and_their_text_extracted() -> None:
    data = fixture_bytes("returns-policy.pdf")
    assert data == minimal_pdf(RETURNS_PAGES)  # the committed file is the factory's
    doc = parse(data, "returns-policy.pdf")
    assert doc.media_type == PDF
    assert [section.page for section in doc.sections] == [1, 2]
    for section, lines in zip(doc.sections, RETURNS_PAGES, strict=True):
        assert section.text == "\n".join(lines)


def test_plain_text_and_utf16_with_bom() -> None:
    text = "Opening hours\nWe answer support mail from 9:00 to 18:00, Monday to Friday. Café included."
    assert parse(text.encode(), "notes.txt") == ParsedDocument(TEXT, (Section(text),))
    assert parse(text.encode("utf-16"), "notes.txt").text == text
    assert parse(b"\xef\xbb\xbf" + text.encode(), "x").text == text


def test_type_comes_from_the_bytes_not_the_name() -> None:
    html = fixture_bytes("shipping.html")
    assert sniff(html, "shipping.pdf") == HTML
    assert sniff(fixture_bytes("returns-policy.pdf"), "returns.txt") == PDF
    assert sniff(b"# Title\n\nbody", "notes.txt") == MARKDOWN
    assert sniff(b"just words", "readme.md") == MARKDOWN
    assert sniff(b"just words", "readme") == TEXT


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"PK\x03\x04" + b"\x00" * 64,
        b"\x1f\x8b\x08\x00" + b"\x00" * 32,
        b"GIF89a" + b"\x00" * 16,
        b"some text\x00with NUL bytes\x00\x01\x02",
    ],
    ids=["png", "zip", "gzip", "gif", "binary"],
)
def test_binaries_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse(data, "file.md")
    assert caught.value.status == 415


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer garbage",
        b"%PDF-1.7\n" + bytes(range(256)) * 4,
        minimal_pdf(RETURNS_PAGES)[:300],
        "caf\u00e9 cr\u00e8me".encode("latin-1"),
        b"valid start then \xff\xfe\xfd invalid",
        b"   \n\t  ",
        minimal_pdf([[]]),
        b"<!doctype html><html><head><title></title></head><body>  </body></html>",
    ],
    ids=["pdf-no-xref", "pdf-noise", "pdf-truncated", "latin-1", "bad-utf8", "blank", "pdf-no-text", "html-no-text"],
)
def test_corrupt_or_textless_files_are_unparsable(data: bytes) -> None:
    with pytest.raises(UnparsableDocument) as caught:
        parse(data, "file")
    assert caught.value.status == 422


def test_control_characters_and_lone_surrogates_never_reach_a_chunk() -> None:
    doc = parse("a\u0001b\tc\u0085d".encode(), "x.txt")
    assert doc.text == "ab c" + "d"


def test_chunks_are_token_windows_within_one_section_with_overlap() -> None:
    tokenizer = load_tokenizer()
    sentences = " ".join(f"Sentence number {i} tells the refund rule {i}." for i in range(120))
    doc = ParsedDocument(MARKDOWN, (Section("Short intro.", ("Intro",)), Section(sentences, ("Intro", "Rules"))))
    chunker = Chunker(max_tokens=64, overlap_tokens=16, tokenizer=tokenizer)
    chunks = chunker.chunks(doc)
    assert chunks[0].content == "Short intro." and chunks[0].section_path == "Intro"
    body = chunks[1:]
    assert len(body) > 5
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in body:
        assert chunk.section_path == "Intro > Rules"
        assert len(tokenizer.encode(chunk.content, add_special_tokens=False).ids) <= 64
        assert chunk.content in sentences
        assert chunk.content.endswith(".")  # cut at a sentence end
    for first, second in zip(body, body[1:], strict=False):
        # The next window starts inside the previous one (overlap), never after it.
        start = sentences.index(second.content)
        assert sentences.index(first.content) < start < sentences.index(first.content) + len(first.content)
    covered = "".join(sentences[sentences.index(c.content) :][: len(c.content)] for c in body)
    assert set(sentences.split()) <= set(covered.split())


def test_the_content_hash_covers_the_section_path() -> None:
    chunker = Chunker()
    one = chunker.chunks(ParsedDocument(TEXT, (Section("Same words.", ("A",)),)))[0]
    two = chunker.chunks(ParsedDocument(TEXT, (Section("Same words.", ("B",)),)))[0]
    assert one.content == two.content and one.content_sha256 != two.content_sha256
    assert one.embedded_text == "A\nSame words."
