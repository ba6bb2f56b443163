"""The orchestrator API as a STRESS episode uses it: create (retried with the same idempotency key while the
stack is being hurt: 5xx, 429, a refused connection), resume and cancel (a 409 means someone got there first)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp

__all__ = ["OrchClient"]

_RETRY_S = 0.5


class OrchClient:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = f"{url}/v1/orchestrator"
        self.retries = 0

    async def _post(self, path: str, body: dict[str, Any], auth: dict[str, str], deadline: float) -> tuple[int, Any]:
        while True:
            try:
                async with self.http.post(f"{self.url}{path}", json=body, headers=auth) as resp:
                    if resp.status < 500 and resp.status != 429:
                        return resp.status, await resp.json(content_type=None)
                    detail = f"HTTP {resp.status}: {(await resp.text())[:300]}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                detail = repr(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"POST {path} kept failing until the deadline: {detail}")
            self.retries += 1
            await asyncio.sleep(_RETRY_S)

    async def create(
        self, agent: str, run_input: dict[str, Any], key: str, auth: dict[str, str], deadline: float
    ) -> uuid.UUID:
        body = {"agent": agent, "input": run_input, "idempotency_key": key}
        status, answer = await self._post("/runs", body, auth, deadline)
        if status not in (200, 202):
            raise RuntimeError(f"create {agent} run -> {status}: {str(answer)[:300]}")
        return uuid.UUID(answer["run_id"])

    async def resume(self, run_id: uuid.UUID, value: Any, auth: dict[str, str], deadline: float) -> int:
        status, _ = await self._post(f"/runs/{run_id}/resume", {"value": value}, auth, deadline)
        return status

    async def cancel(self, run_id: uuid.UUID, auth: dict[str, str], deadline: float) -> int:
        status, _ = await self._post(f"/runs/{run_id}/cancel", {}, auth, deadline)
        return status
