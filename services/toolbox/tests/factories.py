"""Test helpers beside the tests: a client for one tenant's toolbox calls and its control API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx2

CHARGE = {"order_id": "ORD-1001", "amount_minor": 5198, "currency": "usd"}


@dataclass(frozen=True)
class Urls:
    api: str
    metrics: str


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"


@dataclass
class Toolbox:
    """Calls as `tenant`: `headers` adds the tenant; `key` and `fault` add Idempotency-Key and X-Toolbox-Fault."""

    http: httpx2.AsyncClient
    tenant: str

    def headers(self, key: str | None = None, fault: str | None = None) -> dict[str, str]:
        headers = {"X-Toolbox-Tenant": self.tenant}
        if key is not None:
            headers["Idempotency-Key"] = key
        if fault is not None:
            headers["X-Toolbox-Fault"] = fault
        return headers

    async def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        fault: str | None = None,
        timeout: float | None = None,
    ) -> httpx2.Response:
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        return await self.http.post(path, json=body or {}, headers=self.headers(key, fault), **extra)

    async def get(self, path: str, *, fault: str | None = None, **params: str) -> httpx2.Response:
        return await self.http.get(path, params=params, headers=self.headers(fault=fault))

    async def charge(self, key: str | None = None, fault: str | None = None, **body: Any) -> httpx2.Response:
        return await self.post("/v1/payments/charges", {**CHARGE, **body}, key=key, fault=fault)

    async def effects(self, operation: str | None = None, key: str | None = None) -> dict[str, Any]:
        params = {"tenant": self.tenant}
        if operation is not None:
            params["operation"] = operation
        if key is not None:
            params["key"] = key
        response = await self.http.get("/control/effects", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def effect_count(self, operation: str, key: str | None) -> int:
        """Effects of one (operation, key); `key=None` sums every key."""
        body = await self.effects(operation)
        return sum(row["effects"] for row in body["keys"] if key is None or row["key"] == key)

    async def state(self) -> dict[str, Any]:
        response = await self.http.get("/control/state", params={"tenant": self.tenant})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def add_fault(self, **rule: Any) -> dict[str, Any]:
        response = await self.http.post("/control/faults", json={"tenant": self.tenant, **rule})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


def error_of(response: httpx2.Response) -> dict[str, Any]:
    """The `error` object of a JSON error answer (asserting the shape)."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    assert {"type", "code", "message", "param", "retryable"} <= set(error), error
    return error
