"""`/v1/ingestion` through the real process: upload (202), list, get, search with citations, delete; tenant
isolation (404 on B's documents, no B hits); bad input is 4xx JSON in the platform's error shape, never 5xx."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest

from aiaas.scopes import BILLING_READ

from .factories import MAX_UPLOAD_BYTES, fixture_bytes, minimal_pdf

FILES = {
    "account-and-billing.md": "text/markdown",
    "shipping.html": "text/html",
    "returns-policy.pdf": "application/pdf",
}


@pytest.fixture
async def client(ingestion_url: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=ingestion_url, timeout=60) as http:
        yield http


async def _upload(
    client: httpx2.AsyncClient, auth: dict[str, str], name: str, data: bytes, content_type: str = "text/plain"
) -> httpx2.Response:
    return await client.post("/v1/ingestion/documents", headers=auth, files={"file": (name, data, content_type)})


def _error(response: httpx2.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert {"code", "message", "type"} <= set(error)
    if code is not None:
        assert error["code"] == code, error
    return error


async def test_upload_list_get_search_delete(client: httpx2.AsyncClient, make_tenant: Callable[..., Any]) -> None:
    tenant = await make_tenant()
    ids: dict[str, str] = {}
    for name, media_type in FILES.items():
        # The declared type is not trusted: everything is sent as octet-stream.
        response = await _upload(client, tenant.auth, name, fixture_bytes(name), "application/octet-stream")
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["version"], body["status"], body["unchanged"]) == (1, "ready", False)
        ids[name] = body["document_id"]
        document = (await client.get(f"/v1/ingestion/documents/{body['document_id']}", headers=tenant.auth)).json()
        assert (document["filename"], document["media_type"], document["status"]) == (name, media_type, "ready")
        assert document["chunk_count"] >= 1 and document["chunks_embedded"] == document["chunk_count"]

    again = await _upload(client, tenant.auth, "shipping.html", fixture_bytes("shipping.html"))
    assert again.status_code == 202 and again.json() == {
        "document_id": ids["shipping.html"],
        "version": 1,
        "status": "ready",
        "unchanged": True,
    }

    page = (await client.get("/v1/ingestion/documents", params={"limit": 2}, headers=tenant.auth)).json()
    assert len(page["data"]) == 2 and page["has_more"] is True
    rest = (
        await client.get(
            "/v1/ingestion/documents", params={"limit": 2, "after": page["data"][-1]["id"]}, headers=tenant.auth
        )
    ).json()
    assert len(rest["data"]) == 1 and rest["has_more"] is False
    assert {d["id"] for d in page["data"] + rest["data"]} == set(ids.values())

    search = await client.post(
        "/v1/ingestion/search", json={"query": "How long until my refund arrives?"}, headers=tenant.auth
    )
    assert search.status_code == 200, search.text
    top = search.json()["results"][0]
    assert search.json()["mode"] == "hybrid"
    assert top["citation"] == {
        "document_id": ids["returns-policy.pdf"],
        "filename": "returns-policy.pdf",
        "section": "",
        "page": 2,
    }
    md = await client.post(
        "/v1/ingestion/search",
        json={"query": "pause subscription", "mode": "fulltext", "document_ids": [ids["account-and-billing.md"]]},
        headers=tenant.auth,
    )
    assert md.json()["results"][0]["citation"]["section"] == (
        "Account and billing > Subscriptions > Pausing a subscription"
    )

    deleted = await client.delete(f"/v1/ingestion/documents/{ids['returns-policy.pdf']}", headers=tenant.auth)
    assert deleted.status_code == 204
    _error(await client.get(f"/v1/ingestion/documents/{ids['returns-policy.pdf']}", headers=tenant.auth), 404)
    for mode in ("vector", "fulltext", "hybrid"):
        found = await client.post(
            "/v1/ingestion/search", json={"query": "refund original payment method", "mode": mode}, headers=tenant.auth
        )
        assert all(r["citation"]["filename"] != "returns-policy.pdf" for r in found.json()["results"]), mode


async def test_another_tenant_gets_404_and_no_hits(client: httpx2.AsyncClient, make_tenant: Callable[..., Any]) -> None:
    a, b = await make_tenant(), await make_tenant()
    created = await _upload(client, a.auth, "secret.md", b"# Internal\n\nThe vault code of tenant A is swordfish.")
    document = created.json()["document_id"]
    _error(await client.get(f"/v1/ingestion/documents/{document}", headers=b.auth), 404, "document_not_found")
    _error(await client.delete(f"/v1/ingestion/documents/{document}", headers=b.auth), 404, "document_not_found")
    assert (await client.get("/v1/ingestion/documents", headers=b.auth)).json()["data"] == []
    for mode in ("vector", "fulltext", "hybrid"):
        found = await client.post(
            "/v1/ingestion/search", json={"query": "vault code swordfish", "mode": mode}, headers=b.auth
        )
        assert found.status_code == 200 and found.json()["results"] == [], mode
    assert (await client.get(f"/v1/ingestion/documents/{document}", headers=a.auth)).status_code == 200


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("photo.md", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, 415, "unsupported_media_type"),
        ("archive.txt", b"PK\x03\x04" + b"\x00" * 200, 415, "unsupported_media_type"),
        ("broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8, 422, "unparsable_document"),
        ("cut.pdf", minimal_pdf([["one line"]])[:200], 422, "unparsable_document"),
        ("latin.txt", "cr\u00e8me br\u00fbl\u00e9e".encode("latin-1"), 422, "unparsable_document"),
        ("empty.txt", b"", 422, "unparsable_document"),
        ("big.txt", b"word " * (MAX_UPLOAD_BYTES // 5 + 10), 413, None),
    ],
    ids=["png", "zip", "corrupt-pdf", "truncated-pdf", "latin-1", "empty", "oversize"],
)
async def test_bad_files_are_4xx_json_and_store_nothing(
    client: httpx2.AsyncClient, make_tenant: Callable[..., Any], name: str, data: bytes, status: int, code: str | None
) -> None:
    tenant = await make_tenant()
    _error(await _upload(client, tenant.auth, name, data), status, code)
    assert (await client.get("/v1/ingestion/documents", headers=tenant.auth)).json()["data"] == []


async def test_malformed_requests_are_4xx_json(client: httpx2.AsyncClient, make_tenant: Callable[..., Any]) -> None:
    tenant = await make_tenant()
    auth = tenant.auth
    # A body far over the limit is refused before it is read.
    huge = b"x" * (MAX_UPLOAD_BYTES + 200 * 1024)
    assert (await _upload(client, auth, "huge.txt", huge)).status_code == 413
    _error(await client.post("/v1/ingestion/documents", headers=auth, data={"not_file": "x"}), 422)
    _error(await client.post("/v1/ingestion/documents", headers=auth, json={"file": "x"}), 422)
    _error(await client.get("/v1/ingestion/documents/not-a-uuid", headers=auth), 422)
    _error(await client.get(f"/v1/ingestion/documents/{uuid.uuid4()}", headers=auth), 404, "document_not_found")
    _error(await client.get("/v1/ingestion/documents", params={"limit": 0}, headers=auth), 422)
    for body in ({"query": ""}, {"query": "x", "mode": "semantic"}, {"query": "x", "top_k": 0}, {"query": 5}):
        _error(await client.post("/v1/ingestion/search", json=body, headers=auth), 422)
    # Text Postgres cannot store or the tokenizer cannot read (a lone surrogate, NUL) is no 5xx.
    json_headers = {**auth, "content-type": "application/json"}
    surrogate = b'{"query": "refund \\ud800 policy"}'
    _error(await client.post("/v1/ingestion/search", content=surrogate, headers=json_headers), 422)
    nul = await client.post("/v1/ingestion/search", content=b'{"query": "refund\\u0000 policy"}', headers=json_headers)
    assert nul.status_code == 200, nul.text
    only_nul = await client.post("/v1/ingestion/search", content=b'{"query": "\\u0000"}', headers=json_headers)
    assert only_nul.status_code == 200 and only_nul.json()["results"] == [], only_nul.text
    # A file name that is not UTF-8 and holds a NUL (raw multipart: clients refuse to encode it) is cleaned.
    raw = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="\xff\xfe\x00../x.md"\r\n'
        b"Content-Type: text/plain\r\n\r\n# T\n\nbody text\r\n--B--\r\n"
    )
    odd_name = await client.post(
        "/v1/ingestion/documents", content=raw, headers={**auth, "content-type": "multipart/form-data; boundary=B"}
    )
    assert odd_name.status_code == 202, odd_name.text
    stored = await client.get(f"/v1/ingestion/documents/{odd_name.json()['document_id']}", headers=auth)
    assert "\x00" not in stored.json()["filename"] and "/" not in stored.json()["filename"]
    # Keys: none is 401, one without the scope is 403.
    _error(await client.get("/v1/ingestion/documents"), 401)
    narrow = await make_tenant(scopes=[BILLING_READ])
    _error(await client.get("/v1/ingestion/documents", headers=narrow.auth), 403)
