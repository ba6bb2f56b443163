"""What the cache tests share: a control plane for the cache flags, and `CacheStack`, which makes tenants with
the cache on and sends them through the openai SDK (returning each reply's text, headers and usage)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai

from aiaas_testing import ServiceProcess, TenantWithKey, free_port, wait_for
from gateway.cache.rules import CACHE_FLAGS

__all__ = ["PARAPHRASE", "QUESTION", "UNRELATED", "CacheStack", "Reply", "run_control_plane"]

# Measured with all-MiniLM-L6-v2 (cosine 0.991 and 0.121) and aiaas.semcache.verify (accepts the first).
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
UNRELATED = "What is the best way to cook rice?"

# Flag key -> (field of GET /v1/cache, the value it shows for the flag's value).
_SHOWN: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "cache.enabled": ("enabled", lambda v: v),
    "cache.ttl_s": ("ttl_s", lambda v: v),
    "cache.threshold_milli": ("threshold", lambda v: v / 1000),
    "cache.max_entries": ("max_entries", lambda v: v),
    "cache.max_temperature_centi": ("max_temperature", lambda v: v / 100),
    "cache.version": ("version", lambda v: v),
}


def run_control_plane(run_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """A control plane process (for a module fixture): its URL, stopped afterwards."""
    port = free_port()
    proc = ServiceProcess(
        ["-m", "control_plane", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=run_dir / f"control-plane-cache-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


class Reply:
    def __init__(self, text: str, headers: Any, usage: Any, request_id: str) -> None:
        self.text = text
        self.headers = headers
        self.usage = usage
        self.request_id = request_id

    @property
    def cache(self) -> str | None:
        return self.headers.get("x-cache")


class CacheStack:
    """The gateway, the control plane and the simulator, as the cache tests use them."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        gateway: str,
        control_plane: str,
        sim: str,
        admin_headers: dict[str, str],
        make_tenant: Callable[[], Awaitable[TenantWithKey]],
    ) -> None:
        self.http = http
        self.gateway = gateway
        self.control_plane = control_plane
        self.sim = sim
        self._admin = admin_headers
        self._make_tenant = make_tenant

    async def ensure_flags(self) -> None:
        """The cache flags exist in the control plane (created as declared unless it seeded them already)."""
        for spec in CACHE_FLAGS:
            async with self.http.post(
                f"{self.control_plane}/admin/flags", json={**spec, "reason": "test: cache flags"}, headers=self._admin
            ) as resp:
                assert resp.status in (201, 409), await resp.text()

    async def tenant(self, **overrides: Any) -> TenantWithKey:
        """A new tenant with the cache on and these flags (`cache__ttl_s=1` sets cache.ttl_s), live in the gateway."""
        tenant = await self._make_tenant()
        await self.set_flags(tenant, {"cache.enabled": True, **{k.replace("__", "."): v for k, v in overrides.items()}})
        return tenant

    async def set_flags(self, tenant: TenantWithKey, values: dict[str, Any]) -> None:
        for key, value in values.items():
            async with self.http.put(
                f"{self.control_plane}/admin/flags/{key}/tenants/{tenant.id}",
                json={"value": value, "reason": "test: cache settings"},
                headers=self._admin,
            ) as resp:
                assert resp.status == 200, await resp.text()
        await wait_for(lambda: self._live(tenant, values), timeout_s=10)

    async def _live(self, tenant: TenantWithKey, values: dict[str, Any]) -> bool:
        summary = await self.summary(tenant)
        return all(summary[field] == shown(values[key]) for key, (field, shown) in _SHOWN.items() if key in values)

    async def summary(self, tenant: TenantWithKey) -> dict[str, Any]:
        async with self.http.get(f"{self.gateway}/v1/cache", headers=tenant.auth) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def entries(self, tenant: TenantWithKey) -> int:
        return int((await self.summary(tenant))["entries"])

    async def stored(self, tenant: TenantWithKey, count: int) -> None:
        """Stores run after the reply: wait until the tenant holds `count` entries."""

        async def reached() -> bool:
            return await self.entries(tenant) == count

        await wait_for(reached, timeout_s=15)

    async def sim_requests(self) -> int:
        async with self.http.get(f"{self.sim}/_sim/stats") as resp:
            return int((await resp.json())["total_requests"])

    async def delete(self, tenant: TenantWithKey, path: str = "", **params: str) -> tuple[int, dict[str, Any]]:
        async with self.http.delete(f"{self.gateway}/v1/cache{path}", params=params, headers=tenant.auth) as resp:
            return resp.status, dict(await resp.json())

    async def ask(
        self,
        tenant: TenantWithKey,
        question: str,
        *,
        model: str = "chat",
        stream: bool = False,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Reply:
        """One chat request through the openai SDK; a streamed reply is read to its end with the SDK's parser."""
        client = openai.AsyncOpenAI(base_url=f"{self.gateway}/v1", api_key=tenant.api_key, max_retries=0)
        messages = [{"role": "user", "content": question}]
        if not stream:
            raw = await client.chat.completions.with_raw_response.create(
                model=model, messages=messages, extra_headers=headers, **params
            )
            completion = raw.parse()
            text = completion.choices[0].message.content or ""
            return Reply(text, raw.headers, completion.usage, raw.headers["x-request-id"])
        raw_stream = await client.chat.completions.with_raw_response.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
            **params,
        )
        parts: list[str] = []
        usage = None
        finishes = []
        async for chunk in raw_stream.parse():
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                if chunk.choices[0].finish_reason:
                    finishes.append(chunk.choices[0].finish_reason)
            if chunk.usage is not None:
                usage = chunk.usage
        assert finishes in (["stop"], ["length"]), finishes
        assert usage is not None, "the usage chunk ends the stream"
        return Reply("".join(parts), raw_stream.headers, usage, raw_stream.headers["x-request-id"])
