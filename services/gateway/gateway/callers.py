"""Who may call the chat route: a tenant's key with the `chat` scope, or a platform service's credential.

The service credential (the orchestrator's) is a named platform-admin key listed in `GATEWAY_SERVICE_KEY_NAMES`
with the tenant in `x-aiaas-tenant-id` (aiaas.service_callers): its request is then the tenant's in every way
(limits, plan quota, cache, routing, metering, billing) with no key limits of its own, and its usage rows carry
the admin key's id as `api_key_id`. It may also say which orchestrator run and step a call is for
(`x-aiaas-run-id`, a UUID; `x-aiaas-step`, 1-128 of `A-Z a-z 0-9 _ . : # -`): they travel on the usage event
into the `requests` row. A tenant key's run and step headers are ignored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from aiaas.auth import Principal
from aiaas.errors import BadRequest, ServiceUnavailable
from aiaas.service_callers import RUN_ID_HEADER, STEP_HEADER, TENANT_HEADER, ServiceKeys, TenantKnown

__all__ = ["RunStep", "ServiceCallers", "parse_run_step"]

_STEP = re.compile(r"[A-Za-z0-9_.:#-]{1,128}")
_TENANT, _RUN_ID, _STEP_NAME = TENANT_HEADER.encode(), RUN_ID_HEADER.encode(), STEP_HEADER.encode()


@dataclass(frozen=True, slots=True)
class RunStep:
    """The orchestrator run and step a service call belongs to (either may be absent)."""

    run_id: uuid.UUID | None
    step: str | None


def parse_run_step(run_id: str | None, step: str | None) -> RunStep | None:
    """The run and step headers' values -> a `RunStep` (None when neither is sent); 400 for a bad one."""
    if run_id is None and step is None:
        return None
    run: uuid.UUID | None = None
    if run_id is not None:
        try:
            run = uuid.UUID(run_id)
        except ValueError:
            raise BadRequest(f"`{RUN_ID_HEADER}` must be a run id (UUID).", code="invalid_run_id") from None
    if step is not None and _STEP.fullmatch(step) is None:
        raise BadRequest(
            f"`{STEP_HEADER}` must be 1 to 128 characters of A-Z, a-z, 0-9 and _ . : # -.", code="invalid_step"
        )
    return RunStep(run_id=run, step=step)


class ServiceCallers:
    """Resolves a chat request made with a service credential: the tenant principal it acts as, and its step."""

    def __init__(self, keys: ServiceKeys, tenants: TenantKnown) -> None:
        self._keys = keys
        self._tenants = tenants

    async def resolve(
        self, authorization: str | None, headers: Iterable[tuple[bytes, bytes]]
    ) -> tuple[Principal, RunStep | None]:
        """401 bad admin key, 403 another service's key (or a suspended tenant), 400 bad headers, 503 no
        database to look a key or tenant up in."""
        found: dict[bytes, list[str]] = {}
        for name, value in headers:
            if name in (_TENANT, _RUN_ID, _STEP_NAME):
                found.setdefault(name, []).append(value.decode("latin-1"))
        try:
            admin = await self._keys.admin(authorization)
            principal = await self._keys.acting(admin, _one(found, _TENANT), self._tenants)
        except (SQLAlchemyError, OSError) as exc:
            raise ServiceUnavailable(
                "The database is unavailable right now; retry.", code="database_unavailable", retry_after=1
            ) from exc
        return principal, parse_run_step(_one(found, _RUN_ID), _one(found, _STEP_NAME))


def _one(found: dict[bytes, list[str]], name: bytes) -> str | None:
    """A header's value; repeated, the values joined by commas (which no valid value contains: a 400)."""
    values = found.get(name)
    return None if values is None else ", ".join(values)
