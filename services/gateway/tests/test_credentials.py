"""A provider key goes only to the hosts its credential declares, whatever the deployment's source.

The control plane refuses such a deployment at the PUT (control-plane/tests/test_registry.py); here
the deployment never passed through it: a document written straight into the `model_registry` KV
bucket, and a models file. A real gateway holding an OpenAI key must not call the foreign host (a
local receiver counts what reaches it), must fail over or end with a clear error, and must count it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web

from aiaas.credential_hosts import CredentialHosts
from aiaas.flags.kv import KvBucket
from aiaas_testing import metric_value, scrape_metrics, serve_local
from gateway.catalog.registry import MODEL_REGISTRY_BUCKET
from gateway.catalog.schemas import Deployment
from gateway.providers.credentials import ProviderCredentials

SECRET = "sk-must-never-leave"
REFUSED = "gateway_credential_host_refused_total"

# ---- the key resolver, without processes (the host rules themselves: libs/aiaas/tests/test_credential_hosts.py)


def _dep(base_url: str, credentials_ref: str) -> Deployment:
    return Deployment(name="d", provider="openai", model="m", base_url=base_url, credentials_ref=credentials_ref)


def test_the_key_is_handed_out_only_for_an_allowed_host() -> None:
    creds = ProviderCredentials({"openai": SECRET, "sim": "sim-key"}, CredentialHosts.from_declaration())
    assert creds.key_for(_dep("https://api.openai.com/v1", "openai")) == SECRET
    before = metric_value(_local_samples(), REFUSED, credential="openai")
    leaky = _dep("http://127.0.0.1:9/v1", "openai")
    refused = creds.refusal(leaky)
    assert refused is not None and refused.code == "credential_host_refused" and not refused.retryable
    with pytest.raises(type(refused), match="'127.0.0.1'"):
        creds.key_for(leaky)
    assert metric_value(_local_samples(), REFUSED, credential="openai") == before + 2
    # A credential this gateway holds no key for is refused the same way, before anything is sent.
    assert creds.refusal(_dep("https://api.anthropic.com", "anthropic")) is not None


def _local_samples() -> list[Any]:
    from prometheus_client import REGISTRY

    return [sample for family in REGISTRY.collect() for sample in family.samples]


# ---- a real gateway ---------------------------------------------------------------------------


class _Receiver:
    """A host of someone else's: answers like OpenAI, and remembers every request and its key."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(request.headers.get("Authorization", ""))
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        body = {"id": "x", "object": "chat.completion", "choices": [], "usage": usage}
        return web.json_response(body)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[_Receiver, str]]:
    found = _Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    async with serve_local(app) as url:
        yield found, url


def _deployment(name: str, base_url: str, credentials_ref: str) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai",
        "model": "sim-gpt-small",
        "base_url": base_url,
        "credentials_ref": credentials_ref,
        "input_usd_per_1k": "0.1",
        "output_usd_per_1k": "0.2",
    }


async def _chat(http: aiohttp.ClientSession, gateway: str, auth: dict[str, str], alias: str) -> tuple[int, Any]:
    body = {"model": alias, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    async with http.post(f"{gateway}/v1/chat/completions", json=body, headers=auth) as resp:
        payload = await resp.json(content_type=None)
        return resp.status, (resp.headers.get("x-aiaas-deployment") if resp.status == 200 else payload["error"])


async def test_a_kv_or_file_deployment_on_a_foreign_host_is_never_called(
    receiver, spawn_gateway, run_dir: Path, sim_url, tenant, infra_urls, new_model_alias, metrics_of
) -> None:
    found, foreign = receiver
    kv_alias, kv_only_bad, file_alias = new_model_alias(), new_model_alias(), new_model_alias()
    models = run_dir / f"models-{file_alias}.yaml"
    file_config = {"name": file_alias, "deployments": [_deployment("leaky", f"{foreign}/v1", "openai")]}
    models.write_text(yaml.safe_dump({"aliases": [file_config]}))
    # Documents as the control plane would publish them, but written straight into the bucket.
    bucket = KvBucket(infra_urls.nats_url, MODEL_REGISTRY_BUCKET, name="test-credentials", description="model aliases")
    try:
        kv = await bucket.kv()
        documents = {
            # The foreign host first, then the simulator: the request fails over and is served.
            kv_alias: [_deployment("leaky", f"{foreign}/v1", "openai"), _deployment("sim", f"{sim_url}/v1", "sim")],
            kv_only_bad: [_deployment("leaky", f"{foreign}/v1", "openai")],
        }
        for alias, deployments in documents.items():
            config = {"name": alias, "deployments": deployments}
            await kv.put(alias, orjson.dumps({"alias": alias, "version": 1, "config": config}))
    finally:
        await bucket.close()

    gateway = spawn_gateway(
        name="gateway-credential-hosts",
        OPENAI_API_KEY=SECRET,
        GATEWAY_MODELS_FILE=str(models),
        PROVIDER_CREDENTIAL_HOSTS=json.dumps({"groq": ["api.groq.com"]}),
    )
    async with aiohttp.ClientSession() as http:
        assert metric_value(await scrape_metrics(metrics_of(gateway)), REFUSED) == 0

        assert await _chat(http, gateway, tenant.auth, kv_alias) == (200, f"{kv_alias}/sim")
        for alias in (kv_only_bad, file_alias):
            status, error = await _chat(http, gateway, tenant.auth, alias)
            assert status == 502 and error["code"] == "credential_host_refused", error
            assert "'openai'" in error["message"] and "'127.0.0.1'" in error["message"]
            assert SECRET not in error["message"]

        samples = await scrape_metrics(metrics_of(gateway))
    assert found.calls == []  # nothing, and so no key, reached the foreign host
    assert metric_value(samples, REFUSED, credential="openai") == 3
    # Refused before any attempt: no upstream attempt and no breaker failure for the foreign deployments.
    assert metric_value(samples, "gateway_upstream_attempts_total", deployment=f"{kv_only_bad}/leaky") == 0
