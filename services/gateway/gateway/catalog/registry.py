"""The control plane's model registry, live in the gateway's catalog.

The control plane publishes each model alias's current registry row to the JetStream KV bucket
`model_registry` (key = alias; control_plane/registry/publisher.py). `ModelRegistry` mirrors that
bucket with `aiaas.flags.kv.KvMirror` and the `Catalog` overlays it on the file/default aliases:
a change is served from the first request after it arrives, with no restart. NATS down or the
bucket missing: the last known aliases stay. A document the gateway cannot serve is refused,
logged and counted, and the alias keeps its previous version.

The registry's schema (control_plane/registry/schemas.py `ModelConfig`/`Deployment`) differs from
the gateway's `ModelAlias`/`Deployment`; `alias_from_document` converts explicitly:

- deployment `name` becomes `"<alias>/<name>"`: registry names are unique only within their alias,
  but the gateway keys circuit breakers, metrics and usage records by deployment name;
- `provider` must be one the gateway speaks (`openai`, `anthropic`, `openai_compatible`);
- `base_url` may be omitted for `openai`/`anthropic` (their public endpoints), not for
  `openai_compatible`;
- `credentials_ref` names a credential of this gateway (`openai`, `anthropic`, `sim`, or a key of
  `GATEWAY_CREDENTIALS`); omitted means the provider's own (`openai`/`anthropic`); one this gateway
  does not hold refuses the document, instead of failing every request later; whether the
  credential may be sent to `base_url`'s host is checked before every upstream call
  (gateway/providers/credentials.py), so a document written straight into the bucket cannot route a key elsewhere;
- prices (`input_usd_per_1k`/`output_usd_per_1k`: US dollars per 1,000 tokens, decimal strings),
  `timeout_s` and `first_byte_timeout_s` carry over as they are; timeouts that leave no room for
  failover (aiaas.resilience.failover_budget) refuse the document; `owned_by` is the default.
  Documents published before the prices named their unit (`input_price_per_1k`/`output_price_per_1k`)
  are read as the same dollars.
- `status` (`active`, `deprecated` with an optional `replacement`, `deleted`) carries over: the catalog
  refuses a deprecated alias and drops a deleted one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Literal, get_args

import orjson
from nats.aio.client import Client as NatsClient
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from aiaas.credential_hosts import PUBLIC_BASE_URLS
from aiaas.flags.kv import KvMirror
from aiaas.resilience.failover_budget import FailoverBudget
from aiaas.tasks import stop_tasks
from gateway.catalog.schemas import Deployment, ModelAlias, Provider
from gateway.catalog.service import MODEL_REGISTRY_REJECTED, Catalog, failover_problems

__all__ = ["MODEL_REGISTRY_BUCKET", "ModelRegistry", "alias_from_document", "parse_document"]

_log = logging.getLogger(__name__)

# Written by the control plane (control_plane.registry.publisher.MODEL_REGISTRY_BUCKET).
MODEL_REGISTRY_BUCKET = "model_registry"
_PROVIDERS: frozenset[str] = frozenset(get_args(Provider))
_Price = Annotated[Decimal, Field(ge=0)]


class _RegistryModel(BaseModel):
    # Unknown fields are refused: a field this gateway ignores could change how the alias must be routed.
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegistryDeployment(_RegistryModel):
    """A deployment as the control plane publishes it (its `registry.schemas.Deployment`)."""

    name: str = Field(min_length=1)
    provider: str
    model: str = Field(min_length=1)
    base_url: str | None = None
    credentials_ref: str | None = None
    input_usd_per_1k: _Price = Field(validation_alias=AliasChoices("input_usd_per_1k", "input_price_per_1k"))
    output_usd_per_1k: _Price = Field(validation_alias=AliasChoices("output_usd_per_1k", "output_price_per_1k"))
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    first_byte_timeout_s: Annotated[float, Field(gt=0)] | None = None


class RegistryConfig(_RegistryModel):
    name: str = Field(min_length=1)
    deployments: tuple[RegistryDeployment, ...] = Field(min_length=1)


class RegistryDocument(BaseModel):
    """One KV value: the alias's current registry row (`created_at`/`created_by` are informational)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    alias: str = Field(min_length=1)
    version: int = Field(ge=1)
    config: RegistryConfig
    # Absent in documents published before aliases could be deprecated or deleted.
    status: Literal["active", "deprecated", "deleted"] = "active"
    replacement: str | None = None


def _deployment(alias: str, dep: RegistryDeployment, credentials: Callable[[str], object] | None) -> Deployment:
    if dep.provider not in _PROVIDERS:
        raise ValueError(f"deployment {dep.name!r}: provider {dep.provider!r} is not one of {sorted(_PROVIDERS)}")
    base_url = dep.base_url or PUBLIC_BASE_URLS.get(dep.provider)
    if base_url is None:
        raise ValueError(f"deployment {dep.name!r}: provider {dep.provider!r} needs a base_url")
    credentials_ref = dep.credentials_ref or dep.provider
    if credentials is not None:
        try:
            credentials(credentials_ref)
        except KeyError:
            raise ValueError(f"deployment {dep.name!r}: no credential {credentials_ref!r} on this gateway") from None
    return Deployment(
        name=f"{alias}/{dep.name}",
        provider=dep.provider,  # type: ignore[arg-type]  # checked against Provider above
        model=dep.model,
        base_url=base_url,
        credentials_ref=credentials_ref,
        input_usd_per_1k=dep.input_usd_per_1k,
        output_usd_per_1k=dep.output_usd_per_1k,
        timeout_s=dep.timeout_s,
        first_byte_timeout_s=dep.first_byte_timeout_s,
    )


def alias_from_document(
    doc: RegistryDocument, credentials: Callable[[str], object] | None = None, budget: FailoverBudget | None = None
) -> ModelAlias:
    """The gateway's alias for a registry document; ValueError when the gateway cannot serve it."""
    if doc.config.name != doc.alias:
        raise ValueError(f"config name {doc.config.name!r} differs from alias {doc.alias!r}")
    deployments = tuple(_deployment(doc.alias, dep, credentials) for dep in doc.config.deployments)
    alias = ModelAlias(name=doc.alias, deployments=deployments, status=doc.status, replacement=doc.replacement)
    problems = failover_problems(alias, budget) if budget is not None and doc.status != "deleted" else []
    if problems:
        # The control plane refuses these at the PUT; one written straight into the bucket is refused here.
        raise ValueError("; ".join(problems))
    return alias


def parse_document(
    value: bytes, credentials: Callable[[str], object] | None = None, budget: FailoverBudget | None = None
) -> ModelAlias:
    """KV bytes -> alias. Raises ValueError (KvMirror then keeps the previous version), logged with why."""
    try:
        doc = RegistryDocument.model_validate(orjson.loads(value))
        alias = alias_from_document(doc, credentials, budget)
    except ValueError as exc:  # JSON and pydantic validation errors are ValueErrors too
        MODEL_REGISTRY_REJECTED.labels("invalid").inc()
        _log.warning("model registry document refused: %s", str(exc)[:500])
        raise
    _log.debug("model alias %s v%d from the registry", doc.alias, doc.version)
    return alias


class ModelRegistry:
    """Runs the watch of the registry bucket and makes the catalog follow it."""

    def __init__(
        self,
        credentials: Callable[[str], object] | None = None,
        *,
        budget: FailoverBudget | None = None,
        bucket: str = MODEL_REGISTRY_BUCKET,
        retry_s: float = 0.5,
    ) -> None:
        # Copy-on-write: every change swaps `mirror.data`, which is what tells the catalog to re-merge.
        self.mirror: KvMirror[ModelAlias] = KvMirror(
            bucket, functools.partial(parse_document, credentials=credentials, budget=budget), retry_s=retry_s
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self, nc: NatsClient, catalog: Catalog, start_timeout_s: float = 2.0) -> ModelRegistry:
        """Follow the bucket; wait at most `start_timeout_s` for its snapshot (or to learn it is missing)."""

        async def connect() -> NatsClient:
            return nc  # shared: KvMirror notices its reconnects by the counter and reloads the bucket

        catalog.follow(self.mirror)
        self._task = asyncio.create_task(self.mirror.run(connect), name="model-registry-watch")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.mirror.settled.wait(), start_timeout_s)
        return self

    @property
    def live(self) -> bool:
        return bool(self.mirror.live)

    async def close(self) -> None:
        await stop_tasks(self._task)
