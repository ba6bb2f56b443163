"""A platform service's credential at the ingestion API (aiaas.service_callers): the orchestrator searches a tenant.

The orchestrator's admin key, listed in INGESTION_SERVICE_KEY_NAMES, searches and reads documents for the tenant
in `x-aiaas-tenant-id` and sees only that tenant's; it may not upload or delete. Another admin key is refused
(403), a missing, malformed or unknown tenant is a 400, and a tenant key ignores the header.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from aiaas_testing import AdminKey, InfraUrls, ServiceProcess, TenantWithKey, free_port

from .factories import ingestion_env

PHRASE = "cold brew concentrate keeps for ten days in the fridge"
DOCUMENT = f"# Brewing\n\n## Storage\n\nOur {PHRASE}; shake before pouring.\n".encode()
SEARCH = {"query": "cold brew concentrate fridge", "mode": "fulltext", "top_k": 5}


@pytest.fixture(scope="session")
async def orchestrator_key(make_admin_key) -> AdminKey:
    return await make_admin_key()


@pytest.fixture(scope="session")
def service_ingestion(run_dir: Path, infra_urls: InfraUrls, orchestrator_key: AdminKey) -> Iterator[str]:
    """An ingestion API listing the orchestrator's key (besides another service's name)."""
    port = free_port()
    proc = ServiceProcess(
        ["-m", "ingestion", "--host", "127.0.0.1", "--port", str(port)],
        env=ingestion_env(infra_urls, INGESTION_SERVICE_KEY_NAMES=f"other-service,{orchestrator_key.name}"),
        log_path=run_dir / f"ingestion-service-keys-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _upload(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("file", DOCUMENT, filename="brewing.md", content_type="text/markdown")
    async with http.post(f"{url}/v1/ingestion/documents", data=form, headers=headers) as resp:
        return resp.status, await resp.json()


async def _search(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, dict]:
    async with http.post(f"{url}/v1/ingestion/search", json=SEARCH, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_the_orchestrator_searches_and_reads_the_named_tenant_only(
    service_ingestion: str, orchestrator_key: AdminKey, make_tenant, http: aiohttp.ClientSession
) -> None:
    owner, other = await make_tenant(), await make_tenant()
    status, accepted = await _upload(http, service_ingestion, owner.auth)
    assert (status, accepted["status"]) == (202, "ready"), accepted
    document_id = accepted["document_id"]
    for_owner = {**orchestrator_key.auth, "x-aiaas-tenant-id": str(owner.id)}
    for_other = {**orchestrator_key.auth, "x-aiaas-tenant-id": str(other.id)}

    status, found = await _search(http, service_ingestion, for_owner)
    assert status == 200
    assert [hit["citation"]["document_id"] for hit in found["results"]] == [document_id]
    assert PHRASE in found["results"][0]["content"]
    assert found["results"][0]["citation"]["filename"] == "brewing.md"
    status, elsewhere = await _search(http, service_ingestion, for_other)
    assert (status, elsewhere["results"]) == (200, [])

    async with http.get(f"{service_ingestion}/v1/ingestion/documents", headers=for_owner) as resp:
        listed = await resp.json()
    assert resp.status == 200 and [doc["id"] for doc in listed["data"]] == [document_id]
    async with http.get(f"{service_ingestion}/v1/ingestion/documents/{document_id}", headers=for_owner) as resp:
        assert (resp.status, (await resp.json())["id"]) == (200, document_id)
    async with http.get(f"{service_ingestion}/v1/ingestion/documents/{document_id}", headers=for_other) as resp:
        assert resp.status == 404

    # Writes stay the tenant's own: the credential may not upload or delete.
    status, refused = await _upload(http, service_ingestion, for_owner)
    assert (status, refused["error"]["code"]) == (403, "service_key_not_allowed")
    async with http.delete(f"{service_ingestion}/v1/ingestion/documents/{document_id}", headers=for_owner) as resp:
        assert (resp.status, (await resp.json())["error"]["code"]) == (403, "service_key_not_allowed")
    async with http.get(f"{service_ingestion}/v1/ingestion/documents/{document_id}", headers=owner.auth) as resp:
        assert resp.status == 200


async def test_who_may_act_for_a_tenant(
    service_ingestion: str, orchestrator_key: AdminKey, make_admin_key, make_tenant, http: aiohttp.ClientSession
) -> None:
    tenant, chat_only = await make_tenant(), await make_tenant(scopes=["chat"])
    other = await make_admin_key()
    service = orchestrator_key.auth
    cases = [
        ({**other.auth, "x-aiaas-tenant-id": str(tenant.id)}, 403, "not_a_service_key"),
        ({"Authorization": "Bearer sk-admin-nope", "x-aiaas-tenant-id": str(tenant.id)}, 401, "invalid_admin_key"),
        (service, 400, "missing_tenant_id"),
        ({**service, "x-aiaas-tenant-id": "tenant-7"}, 400, "invalid_tenant_id"),
        ({**service, "x-aiaas-tenant-id": str(uuid.uuid4())}, 400, "unknown_tenant"),
        ({**chat_only.auth, "x-aiaas-tenant-id": str(tenant.id)}, 403, "insufficient_scope"),
        ({}, 401, "missing_api_key"),
    ]
    for headers, status, code in cases:
        got, body = await _search(http, service_ingestion, headers)
        assert (got, body["error"]["code"]) == (status, code), headers


async def test_a_tenant_key_ignores_the_tenant_header(
    service_ingestion: str, make_tenant, tenant_with_document: TenantWithKey, http: aiohttp.ClientSession
) -> None:
    other = await make_tenant()
    status, found = await _search(
        http, service_ingestion, {**other.auth, "x-aiaas-tenant-id": str(tenant_with_document.id)}
    )
    assert (status, found["results"]) == (200, [])
    status, found = await _search(
        http, service_ingestion, {**tenant_with_document.auth, "x-aiaas-tenant-id": str(other.id)}
    )
    assert status == 200 and len(found["results"]) == 1


@pytest.fixture
async def tenant_with_document(service_ingestion: str, make_tenant, http: aiohttp.ClientSession) -> TenantWithKey:
    tenant = await make_tenant()
    status, accepted = await _upload(http, service_ingestion, tenant.auth)
    assert (status, accepted["status"]) == (202, "ready"), accepted
    return tenant
