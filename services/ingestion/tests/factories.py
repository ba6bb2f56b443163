"""Test helpers of the ingestion suite: the help-centre fixtures, a hand-written PDF, the golden questions."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from aiaas import clock
from aiaas_testing import InfraUrls

__all__ = [
    "HELP_CENTRE",
    "MAX_UPLOAD_BYTES",
    "GOLDEN",
    "RETURNS_PAGES",
    "fixture_bytes",
    "golden_questions",
    "ingestion_env",
    "minimal_pdf",
    "slow_pdf",
]

# The test API's upload limit: small enough to test 413 with a small body; the fixtures are a few KB each.
MAX_UPLOAD_BYTES = 256 * 1024
HELP_CENTRE = Path(__file__).resolve().parent / "fixtures" / "help_centre"
GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden_questions.json"

# The returns policy PDF (fixtures/help_centre/returns-policy.pdf is `minimal_pdf(RETURNS_PAGES)`), one list of
# lines per page.
RETURNS_PAGES: list[list[str]] = [
    [
        "Returns and refunds",
        "Unopened bags of coffee can be returned within 30 days of delivery for a full refund.",
        "Opened bags cannot be returned, except when the coffee arrived damaged or stale.",
        "To start a return, open the order in your account and choose Request a return.",
    ],
    [
        "Refund timing",
        "Refunds are paid back to the original payment method within five business days",
        "after the returned parcel reaches our warehouse. Return shipping labels are free",
        "for damaged orders; otherwise the return postage is paid by the customer.",
        "Grinders and brewing equipment carry a two year warranty against defects.",
    ],
]


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def minimal_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF 1.4 (Helvetica, one text line per entry, a correct xref table), written by hand."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for index, lines in enumerate(pages):
        content_id = page_ids[index] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
            f" /Contents {content_id} 0 R >>".encode()
        )
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            ops.append(f"({_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("cp1252")
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    return _pdf_file(objects)


def _pdf_file(objects: list[bytes]) -> bytes:
    """The objects numbered from 1 (the first the catalog), with a correct xref table and trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def slow_pdf(operators: int = 200_000) -> bytes:
    """A small PDF (6 KB at the default) that pypdf takes seconds to read: one page whose compressed content
    stream draws `operators` one-letter strings (~9 s for 200,000 here)."""
    stream = ("BT /F1 11 Tf 72 720 Td " + "(a) Tj 1 0 Td " * operators + "ET").encode()
    packed = zlib.compress(stream, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
        b" /Contents 5 0 R >>",
        b"<< /Length " + str(len(packed)).encode() + b" /Filter /FlateDecode >>\nstream\n" + packed + b"\nendstream",
    ]
    return _pdf_file(objects)


def ingestion_env(infra_urls: InfraUrls, **overrides: str) -> dict[str, str]:
    """The API's env: app_runtime only (aiaas.roles), no tracing, no metrics listener, the tests' clock."""
    env = {
        "DATABASE_URL": infra_urls.database_url,
        "NATS_URL": infra_urls.nats_url,
        "INGESTION_AUTH_CACHE_TTL_S": "0.5",
        "INGESTION_TRACING": "false",
        "INGESTION_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
        clock.OFFSET_ENV: repr(clock.offset_s()),
    }
    env.update(overrides)
    return env


def fixture_bytes(name: str) -> bytes:
    return (HELP_CENTRE / name).read_bytes()


def golden_questions() -> list[dict[str, Any]]:
    """Each: question, and the document and a phrase of the chunk that answers it."""
    data: list[dict[str, Any]] = json.loads(GOLDEN.read_text())
    return data


if __name__ == "__main__":
    (HELP_CENTRE / "returns-policy.pdf").write_bytes(minimal_pdf(RETURNS_PAGES))
