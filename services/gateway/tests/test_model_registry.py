"""The control plane's model registry is the gateway's live alias source.

A real control plane process publishes each PUT to the JetStream KV bucket `model_registry`; real
gateway processes (on the provider simulator) serve an alias that exists only there within a second,
follow a change of its deployment without a restart, keep the previous version when a document is
invalid, and let a registry alias override a file alias of the same name. Aliases are unique per
test; their registry rows and KV keys are deleted afterwards. The conversion from the registry's
schema to the gateway's is tested on its own first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import nats
import orjson
import pytest
import yaml
from sqlalchemy import text

from aiaas.db import admin_session
from aiaas_testing import ServiceProcess, free_port, metric_value, scrape_metrics
from gateway.catalog.registry import MODEL_REGISTRY_BUCKET, RegistryDocument, alias_from_document, parse_document
from gateway.catalog.schemas import ModelAlias
from gateway.catalog.service import Catalog

# ---- the conversion, registry schema -> gateway schema ---------------------------------------


def _doc(alias: str, *deployments: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {
        "alias": alias,
        "version": version,
        "config": {"name": alias, "deployments": list(deployments)},
        "created_at": "2026-01-01T00:00:00+00:00",
        "created_by": "platform-admin",
    }


def _registry_dep(**fields: Any) -> dict[str, Any]:
    """A deployment exactly as the control plane stores it (`ModelConfig.model_dump(mode="json")`)."""
    return {
        "name": "primary",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": None,
        "credentials_ref": None,
        "input_usd_per_1k": "0.00015",
        "output_usd_per_1k": "0.0006",
        "timeout_s": None,
        **fields,
    }


def _creds(known: set[str]) -> Callable[[str], str]:
    def resolve(ref: str) -> str:
        if ref not in known:
            raise KeyError(ref)
        return "key"

    return resolve


def test_conversion_maps_every_field() -> None:
    doc = _doc(
        "fast",
        _registry_dep(),
        _registry_dep(
            name="backup",
            provider="openai_compatible",
            model="llama",
            base_url="https://api.groq.com/openai/v1",
            credentials_ref="groq",
            input_usd_per_1k="0.00005",
            timeout_s=20,
        ),
        _registry_dep(name="claude", provider="anthropic", model="claude-sonnet-4-5", credentials_ref="sim"),
    )
    alias = alias_from_document(RegistryDocument.model_validate(doc), _creds({"openai", "groq", "sim"}))
    assert alias.name == "fast" and alias.owned_by == "aiaas"
    primary, backup, claude = alias.deployments
    # Names are qualified by the alias: breakers, metrics and usage are keyed by deployment name.
    assert [d.name for d in alias.deployments] == ["fast/primary", "fast/backup", "fast/claude"]
    # Omitted base_url / credentials_ref: the provider's public endpoint and its own credential.
    assert (primary.provider, primary.base_url, primary.credentials_ref) == (
        "openai",
        "https://api.openai.com/v1",
        "openai",
    )
    assert primary.input_usd_per_1k == Decimal("0.00015") and primary.output_usd_per_1k == Decimal("0.0006")
    assert primary.timeout_s is None
    assert (backup.provider, backup.base_url, backup.credentials_ref, backup.timeout_s) == (
        "openai_compatible",
        "https://api.groq.com/openai/v1",
        "groq",
        20.0,
    )
    assert backup.model == "llama" and backup.input_usd_per_1k == Decimal("0.00005")
    assert (claude.base_url, claude.credentials_ref) == ("https://api.anthropic.com", "sim")
    assert primary.cost_usd(1000, 1000) == Decimal("0.00075")


def test_documents_published_before_prices_named_their_unit_are_read_as_the_same_dollars() -> None:
    old = _registry_dep(input_price_per_1k="0.00015", output_price_per_1k="0.0006")
    del old["input_usd_per_1k"], old["output_usd_per_1k"]
    alias = parse_document(orjson.dumps(_doc("a", old)), _creds({"openai"}))
    (dep,) = alias.deployments
    assert (dep.input_usd_per_1k, dep.output_usd_per_1k) == (Decimal("0.00015"), Decimal("0.0006"))
    assert "input_price_per_1k" not in dep.model_dump()


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        (_doc("a", _registry_dep(provider="sim")), "provider 'sim'"),
        (_doc("a", _registry_dep(provider="openai_compatible", credentials_ref="sim")), "needs a base_url"),
        (_doc("a", _registry_dep(credentials_ref="vault:providers/openai")), "no credential"),
        ({**_doc("a", _registry_dep()), "config": {"name": "b", "deployments": [_registry_dep()]}}, "differs"),
        (_doc("a", _registry_dep(region="eu")), "Extra inputs"),
        (_doc("a", _registry_dep(input_usd_per_1k="-1")), "greater than or equal"),
        (_doc("a"), "at least 1"),
        (_doc("a", _registry_dep(), version=0), "greater than or equal"),
    ],
)
def test_documents_the_gateway_cannot_serve_are_refused(doc: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_document(orjson.dumps(doc), _creds({"openai", "sim"}))


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"alias": "a"}'])
def test_malformed_bytes_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_document(raw)


@dataclass
class _Overlay:
    """Stands in for the KV mirror: a dict replaced (copy-on-write) on every change."""

    data: dict[str, ModelAlias] = field(default_factory=dict)


def _alias(name: str, dep: str) -> ModelAlias:
    return ModelAlias.model_validate(
        {"name": name, "deployments": [{"name": dep, "provider": "openai", "model": "m", "base_url": "http://x/v1"}]}
    )


def test_catalog_overlay_precedence() -> None:
    overlay = _Overlay()
    catalog = Catalog([_alias("file-only", "f1"), _alias("both", "f2")])
    catalog.follow(overlay)
    assert {a.name for a in catalog.aliases()} == {"file-only", "both"}
    overlay.data = {"both": _alias("both", "r2"), "registry-only": _alias("registry-only", "r3")}
    assert catalog.resolve("both").deployments[0].name == "r2"  # type: ignore[union-attr]  # registry wins
    assert catalog.resolve("file-only").deployments[0].name == "f1"  # type: ignore[union-attr]
    assert {a.name for a in catalog.aliases()} == {"file-only", "both", "registry-only"}
    overlay.data = {"wrong-key": _alias("both", "r9")}  # a key that is not the alias's name is ignored
    assert catalog.resolve("both").deployments[0].name == "f2"  # type: ignore[union-attr]  # back to the file
    assert catalog.resolve("wrong-key") is None and catalog.resolve("registry-only") is None


# ---- real processes --------------------------------------------------------------------------

_UNHELD = "vault:held-by-no-gateway"


@pytest.fixture(scope="module")
def control_plane(run_dir: Path, control_plane_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    # This control plane lets deployments name a credential no gateway holds (it checks hosts, not keys), so the
    # gateways' refusal of such a document can be seen below.
    env = {**control_plane_env, "PROVIDER_CREDENTIAL_HOSTS": orjson.dumps({_UNHELD: ["http://127.0.0.1"]}).decode()}
    proc = ServiceProcess(
        ["-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=run_dir / f"control-plane-registry-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


def _sim_config(alias: str, sim_url: str, dep: str, model: str, provider: str = "openai") -> dict[str, Any]:
    return {
        "name": alias,
        "deployments": [
            {
                "name": dep,
                "provider": provider,
                "model": model,
                "base_url": f"{sim_url}/v1" if provider == "openai" else sim_url,
                "credentials_ref": "sim",
                "input_usd_per_1k": "0.5",
                "output_usd_per_1k": "1.5",
            }
        ],
    }


async def _put(http: aiohttp.ClientSession, cp: str, alias: str, config: dict[str, Any], headers: dict[str, str]):
    async with http.put(f"{cp}/admin/models/{alias}", json=config, headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 201 and body["published"] is True, body
        return body


async def _chat(http: aiohttp.ClientSession, gateway: str, auth: dict[str, str], alias: str) -> tuple[int, str]:
    """(status, deployment that served it or the error code)."""
    body = {"model": alias, "messages": [{"role": "user", "content": "registry"}], "max_tokens": 8}
    async with http.post(f"{gateway}/v1/chat/completions", json=body, headers=auth) as resp:
        payload = await resp.json(content_type=None)
        if resp.status == 200:
            return 200, resp.headers["x-aiaas-deployment"]
        return resp.status, payload["error"]["code"]


async def _until(check: Callable[[], Any], timeout_s: float) -> float:
    """Seconds until `await check()` is true; fails after `timeout_s`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout_s, f"not reached within {timeout_s}s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def _rejected(metrics_url: str) -> float:
    return metric_value(await scrape_metrics(metrics_url), "gateway_model_registry_rejected_total", reason="invalid")


async def test_registry_alias_is_served_live(
    control_plane, gateway_url, sim_url, admin_headers, tenant, infra_urls, new_model_alias, metrics_of
) -> None:
    alias = new_model_alias()
    async with aiohttp.ClientSession() as http:
        assert await _chat(http, gateway_url, tenant.auth, alias) == (404, "model_not_found")

        started = time.monotonic()
        await _put(http, control_plane, alias, _sim_config(alias, sim_url, "one", "sim-gpt-small"), admin_headers)

        async def served_by(dep: str) -> bool:
            return await _chat(http, gateway_url, tenant.auth, alias) == (200, f"{alias}/{dep}")

        await _until(lambda: served_by("one"), 1.0)
        print(f"\nPUT -> served by the gateway in {(time.monotonic() - started) * 1000:.0f} ms")
        async with http.get(f"{gateway_url}/v1/models", headers=tenant.auth) as resp:
            assert alias in {m["id"] for m in (await resp.json())["data"]}

        # A new version moves the alias to another deployment (and provider): no restart.
        started = time.monotonic()
        await _put(
            http, control_plane, alias, _sim_config(alias, sim_url, "two", "sim-claude", "anthropic"), admin_headers
        )
        await _until(lambda: served_by("two"), 1.0)
        print(f"second PUT -> served by the new deployment in {(time.monotonic() - started) * 1000:.0f} ms")

        # A provider no gateway speaks is refused by the control plane itself, at the PUT.
        unknown = _sim_config(alias, sim_url, "three", "m", provider="vertex")
        async with http.put(f"{control_plane}/admin/models/{alias}", json=unknown, headers=admin_headers) as resp:
            assert resp.status == 422 and (await resp.json())["error"]["param"] == "deployments.0.provider"

        # Invalid documents: one the control plane accepts but this gateway cannot serve (a credential
        # it does not hold), then bytes written straight to KV. Both are refused; version 2 keeps serving.
        metrics_url = metrics_of(gateway_url)
        rejected = await _rejected(metrics_url)
        bad = _sim_config(alias, sim_url, "three", "m")
        bad["deployments"][0]["credentials_ref"] = _UNHELD
        await _put(http, control_plane, alias, bad, admin_headers)
        await _until(lambda: _more_rejected(metrics_url, rejected), 1.0)
        assert await served_by("two")
        rejected = await _rejected(metrics_url)
        nc = await nats.connect(infra_urls.nats_url)
        try:
            await (await nc.jetstream().key_value(MODEL_REGISTRY_BUCKET)).put(alias, b"{not json")
        finally:
            await nc.close()
        await _until(lambda: _more_rejected(metrics_url, rejected), 1.0)
        for _ in range(5):
            assert await served_by("two")
        async with http.get(f"{gateway_url}/health/ready") as resp:
            assert resp.status == 200


async def _more_rejected(metrics_url: str, before: float) -> bool:
    return await _rejected(metrics_url) > before


async def test_registry_overrides_a_file_alias(
    control_plane, spawn_gateway, run_dir, sim_url, admin_headers, tenant, infra_urls, admin_sessions, new_model_alias
) -> None:
    alias = new_model_alias()
    models = run_dir / f"models-{alias}.yaml"
    models.write_text(yaml.safe_dump({"aliases": [_sim_config(alias, sim_url, f"{alias}-file", "sim-gpt-small")]}))
    async with aiohttp.ClientSession() as http:
        await _put(http, control_plane, alias, _sim_config(alias, sim_url, "reg", "sim-gpt-large"), admin_headers)
        # A gateway started after the PUT loads the registry at start: the registry version wins.
        gateway = spawn_gateway(name="gateway-registry", GATEWAY_MODELS_FILE=str(models))
        assert await _chat(http, gateway, tenant.auth, alias) == (200, f"{alias}/reg")
        # The alias removed from the registry (rows, then KV key): the file's alias is served again.
        async with admin_session(admin_sessions) as session:
            await session.execute(text("delete from model_registry where alias = :a"), {"a": alias})
        nc = await nats.connect(infra_urls.nats_url)
        try:
            await (await nc.jetstream().key_value(MODEL_REGISTRY_BUCKET)).purge(alias)
        finally:
            await nc.close()

        async def file_version() -> bool:
            return await _chat(http, gateway, tenant.auth, alias) == (200, f"{alias}-file")

        await _until(file_version, 1.0)


async def test_deprecated_alias_leaves_models_and_is_refused_deleted_alias_is_gone_and_audited(
    control_plane, gateway_url, sim_url, admin_headers, admin_key, tenant, new_model_alias
) -> None:
    alias = new_model_alias()
    async with aiohttp.ClientSession() as http:

        async def listed() -> bool:
            async with http.get(f"{gateway_url}/v1/models", headers=tenant.auth) as resp:
                return alias in {m["id"] for m in (await resp.json())["data"]}

        async def chat_is(expected: tuple[int, str]) -> bool:
            return await _chat(http, gateway_url, tenant.auth, alias) == expected

        await _put(http, control_plane, alias, _sim_config(alias, sim_url, "one", "sim-gpt-small"), admin_headers)
        await _until(lambda: chat_is((200, f"{alias}/one")), 1.0)
        assert await listed()

        url = f"{control_plane}/admin/models/{alias}"
        async with http.post(f"{url}/deprecate", json={"replacement": "chat"}, headers=admin_headers) as resp:
            deprecated = await resp.json()
            assert resp.status == 201, deprecated
        assert deprecated["version"] == 2 and deprecated["status"] == "deprecated"
        assert deprecated["replacement"] == "chat" and deprecated["published"] is True
        assert deprecated["created_by"] == admin_key.name

        await _until(lambda: chat_is((410, "model_deprecated")), 1.0)
        assert not await listed()
        body = {"model": alias, "messages": [{"role": "user", "content": "still there?"}]}
        async with http.post(f"{gateway_url}/v1/chat/completions", json=body, headers=tenant.auth) as resp:
            error = (await resp.json())["error"]
        assert resp.status == 410 and error["param"] == "model" and "'chat'" in error["message"], error

        async with http.delete(url, headers=admin_headers) as resp:
            deleted = await resp.json()
            assert resp.status == 200, deleted
        assert deleted["version"] == 3 and deleted["status"] == "deleted" and deleted["replacement"] is None
        assert deleted["created_by"] == admin_key.name and deleted["published"] is True
        await _until(lambda: chat_is((404, "model_not_found")), 1.0)
        assert not await listed()

        # The history is the audit: who deprecated and who deleted, version by version; the alias is gone.
        async with http.get(f"{url}?version=3", headers=admin_headers) as resp:
            assert (await resp.json())["status"] == "deleted"
        async with http.get(f"{control_plane}/admin/models", headers=admin_headers) as resp:
            assert alias not in {m["alias"] for m in (await resp.json())["data"]}
        async with http.delete(url, headers=admin_headers) as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "model_not_found"
        async with http.post(f"{url}/deprecate", json={}, headers=admin_headers) as resp:
            assert resp.status == 404

        # A PUT brings it back as a new, active version.
        await _put(http, control_plane, alias, _sim_config(alias, sim_url, "two", "sim-gpt-small"), admin_headers)
        await _until(lambda: chat_is((200, f"{alias}/two")), 1.0)
        assert await listed()
