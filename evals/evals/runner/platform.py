"""What the runner asks of a running platform, over its public and admin HTTP APIs and its JetStream.

Every call answers the parsed body or raises `PlatformError` naming the call, the status and the platform's error
code: the runner turns that into a task error, and an unreachable service into the gate's exit 2.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from aiaas.events import EventEnvelope
from aiaas.scopes import CHAT, INGESTION, ORCHESTRATOR
from evals.loader import REPO_ROOT
from evals.runner.stack import StackUrls

__all__ = ["PlatformError", "PlatformClient", "Tenant", "ServiceUnreachable"]

EVAL_SCOPES = [ORCHESTRATOR, INGESTION, CHAT]
EVENTS_STREAM = "ORCH_EVENTS"
UPLOAD_ATTEMPTS = 3


class PlatformError(RuntimeError):
    """A call the platform refused or answered unexpectedly."""


class ServiceUnreachable(PlatformError):
    """A service did not answer at all (connection refused, reset, timed out)."""


class Tenant:
    """A fresh tenant made for one task, and the key its calls use (orchestrator, ingestion and chat scopes)."""

    def __init__(self, tenant_id: str, api_key: str) -> None:
        self.id = tenant_id
        self.api_key = api_key

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class PlatformClient:
    def __init__(self, urls: StackUrls, http: aiohttp.ClientSession) -> None:
        self.urls = urls
        self.http = http
        self._admin = {"Authorization": f"Bearer {urls.admin_key}"}
        self._nc: Any = None
        self._upload_lock = asyncio.Lock()
        self.upload_retries = 0  # uploads the ingestion service answered 500 and that succeeded when repeated

    async def aclose(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None

    async def _call(
        self, what: str, method: str, url: str, *, expect: tuple[int, ...], **kwargs: Any
    ) -> tuple[int, Any]:
        try:
            async with self.http.request(method, url, **kwargs) as resp:
                body: Any = await resp.json(content_type=None) if resp.content_length != 0 else None
                if resp.status not in expect:
                    error = body.get("error", body) if isinstance(body, dict) else body
                    raise PlatformError(f"{what}: HTTP {resp.status} {error}")
                return resp.status, body
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise ServiceUnreachable(
                f"{what}: {url.split('/v1')[0].split('/admin')[0]} unreachable ({exc!r})"
            ) from None

    # --- administration (control plane, platform-admin key) ------------------------------------------------------
    async def create_tenant(self, label: str) -> Tenant:
        slug = f"eval-{label[:40]}-{uuid.uuid4().hex[:8]}".lower()
        cp = self.urls.control_plane
        _, tenant = await self._call(
            "create tenant",
            "POST",
            f"{cp}/admin/tenants",
            expect=(201,),
            json={"name": f"eval {label}"[:200], "slug": slug[:63]},
            headers=self._admin,
        )
        _, key = await self._call(
            "create tenant key",
            "POST",
            f"{cp}/admin/tenants/{tenant['id']}/keys",
            expect=(201,),
            json={"name": "evals runner", "scopes": EVAL_SCOPES},
            headers=self._admin,
        )
        return Tenant(str(tenant["id"]), str(key["key"]))

    async def set_tenant_flag(self, tenant: Tenant, key: str, value: Any) -> None:
        await self._call(
            f"flag {key}",
            "PUT",
            f"{self.urls.control_plane}/admin/flags/{key}/tenants/{tenant.id}",
            expect=(200,),
            json={"value": value, "reason": "golden task tenant_fixture"},
            headers=self._admin,
        )

    async def put_agent(
        self, manifest: dict[str, Any], input_schema: dict[str, Any], output_schema: dict[str, Any]
    ) -> Any:
        """A new registry version of the agent with `manifest`: what new runs of it pin (its model alias included)."""
        body = {
            "description": f"{manifest['name']} as the evals run it (model {manifest['model_alias']})",
            "input_schema": input_schema,
            "output_schema": output_schema,
            "manifest": manifest,
        }
        _, answer = await self._call(
            f"register agent {manifest['name']}",
            "PUT",
            f"{self.urls.control_plane}/admin/agents/{manifest['name']}",
            expect=(201,),
            json=body,
            headers=self._admin,
        )
        return answer

    # --- fixtures ---------------------------------------------------------------------------------------------------
    async def seed_toolbox(self, tenant: Tenant, seed: dict[str, Any]) -> None:
        await self._call(
            "toolbox seed",
            "POST",
            f"{self.urls.toolbox}/control/seed",
            expect=(200, 201),
            json={**seed, "tenant": tenant.id},
        )

    async def upload_document(self, tenant: Tenant, relative: str, *, timeout_s: float = 60.0) -> str:
        """Upload one repository file to the tenant's knowledge base and wait until it is `ready`.

        One upload at a time, across tasks: concurrent first uploads of different tenants deadlock in Postgres
        (the ingestion service's kb_ensure_partition against another upload's read of kb_chunks) and answer 500,
        and the version they leave `queued` is never ingested (the same bytes again are `unchanged`).
        """
        async with self._upload_lock:
            return await self._upload(tenant, relative, timeout_s)

    async def _upload(self, tenant: Tenant, relative: str, timeout_s: float) -> str:
        path = REPO_ROOT / relative
        base = f"{self.urls.ingestion}/v1/ingestion/documents"
        for attempt in range(UPLOAD_ATTEMPTS):
            form = aiohttp.FormData()
            form.add_field("file", path.read_bytes(), filename=Path(relative).name)
            try:
                _, doc = await self._call(
                    f"upload {relative}", "POST", base, expect=(202,), data=form, headers=tenant.auth
                )
                break
            except PlatformError as exc:  # a 500 before the version was stored: the same bytes again are safe
                if "HTTP 500" not in str(exc) or attempt == UPLOAD_ATTEMPTS - 1:
                    raise
                self.upload_retries += 1
                await asyncio.sleep(0.2 * (attempt + 1))
        document_id = str(doc["document_id"])
        deadline = asyncio.get_running_loop().time() + timeout_s
        status = doc.get("status")
        while status != "ready":
            if status == "failed":
                raise PlatformError(f"upload {relative}: ingestion failed it")
            if asyncio.get_running_loop().time() > deadline:
                raise PlatformError(f"upload {relative}: still {status} after {timeout_s:.0f}s")
            await asyncio.sleep(0.1)
            _, doc = await self._call(
                f"document {relative}", "GET", f"{base}/{document_id}", expect=(200,), headers=tenant.auth
            )
            status = doc.get("status")
        return document_id

    # --- runs ---------------------------------------------------------------------------------------------------------
    def _runs(self) -> str:
        return f"{self.urls.orchestrator}/v1/orchestrator/runs"

    async def create_run(self, tenant: Tenant, agent: str, run_input: dict[str, Any], key: str, wait: float) -> Any:
        body = {"agent": agent, "input": run_input, "idempotency_key": key, "wait": wait}
        _, run = await self._call("start run", "POST", self._runs(), expect=(200, 202), json=body, headers=tenant.auth)
        return run

    async def get_run(self, tenant: Tenant, run_id: str) -> Any:
        return (await self._call("read run", "GET", f"{self._runs()}/{run_id}", expect=(200,), headers=tenant.auth))[1]

    async def history(self, tenant: Tenant, run_id: str) -> Any:
        url = f"{self._runs()}/{run_id}/history"
        return (await self._call("read history", "GET", url, expect=(200,), headers=tenant.auth))[1]

    async def resume(self, tenant: Tenant, run_id: str, value: Any) -> None:
        url = f"{self._runs()}/{run_id}/resume"
        await self._call("resume run", "POST", url, expect=(202,), json={"value": value}, headers=tenant.auth)

    async def settle(self, tenant: Tenant, run_id: str, settled: frozenset[str], timeout_s: float) -> Any:
        """Poll until the run's status is one of `settled` (PlatformError after `timeout_s`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            run = await self.get_run(tenant, run_id)
            if run["status"] in settled:
                return run
            if loop.time() > deadline:
                raise PlatformError(f"run {run_id} still {run['status']} after {timeout_s:.0f}s")
            await asyncio.sleep(0.1)

    # --- events (JetStream ORCH_EVENTS: the run's tool.call.*, saga.* and lifecycle events) ---------------------------
    async def _jetstream(self) -> Any:
        if self._nc is None:
            try:
                self._nc = await nats.connect(self.urls.nats, max_reconnect_attempts=2, connect_timeout=5)
            except Exception as exc:  # noqa: BLE001 - nats raises several unrelated types for "cannot connect"
                raise ServiceUnreachable(f"NATS {self.urls.nats} unreachable ({exc!r})") from None
        return self._nc.jetstream()

    async def tenant_events(self, tenant: Tenant) -> list[dict[str, Any]]:
        """Every event of the tenant on ORCH_EVENTS so far, in stream order, as `{"type", "data"}`.

        Subjects are `<type>.<tenant_id>` with three-token types (`tool.call.requested`, `orch.run.completed`,
        `saga.compensation.failed`), so one ephemeral consumer filtered on the tenant reads them all.
        """
        js = await self._jetstream()
        sub = await js.pull_subscribe(
            f"*.*.*.{tenant.id}",
            stream=EVENTS_STREAM,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, inactive_threshold=30),
        )
        events: list[dict[str, Any]] = []
        try:
            while True:
                try:
                    msgs = await sub.fetch(256, timeout=0.3)
                except TimeoutError:
                    return events
                for msg in msgs:
                    envelope = EventEnvelope.from_json(msg.data)
                    events.append({"type": envelope.type, "data": envelope.data, "id": str(envelope.id)})
                    await msg.ack()
        finally:
            await sub.unsubscribe()
