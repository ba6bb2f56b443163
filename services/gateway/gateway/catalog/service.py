"""Model aliases: each maps to an ordered group of deployments (provider, model, credentials, USD price).

The base set is loaded from `GATEWAY_MODELS_FILE` (YAML or JSON) or built from defaults: real
providers when their API keys are configured, the provider simulator otherwise. A live overlay (the
control plane's model registry, gateway/catalog/registry.py) adds aliases and overrides base ones of
the same name while the gateway runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import yaml
from prometheus_client import Counter

from aiaas.resilience.failover_budget import FailoverBudget, TimedDeployment
from gateway.catalog.schemas import Deployment, ModelAlias
from gateway.config import GatewaySettings

__all__ = ["AliasOverlay", "Catalog", "MODEL_REGISTRY_REJECTED", "failover_problems", "load_catalog"]

_log = logging.getLogger(__name__)

MODEL_REGISTRY_REJECTED = Counter(
    "gateway_model_registry_rejected_total", "Model registry documents the gateway refused to serve", ["reason"]
)


class AliasOverlay(Protocol):
    """A live alias source whose `data` dict is replaced, never mutated, on every change (copy-on-write)."""

    @property
    def data(self) -> Mapping[str, ModelAlias]: ...


class Catalog:
    """Alias lookup; aliases are what tenants put in `model`.

    With an overlay, the served dict is base aliases updated by the overlay's (the overlay wins on a
    name). It is rebuilt and swapped in whole on the first read after the overlay's dict changed
    (an identity check), so a lookup stays one dict read and no reader sees a half-applied change.
    """

    def __init__(self, aliases: list[ModelAlias]) -> None:
        self._base = {alias.name: alias for alias in aliases}
        self._aliases = self._base
        self._overlay: AliasOverlay | None = None
        self._merged_from: Mapping[str, ModelAlias] | None = None

    def follow(self, overlay: AliasOverlay) -> None:
        """Serve `overlay`'s aliases over the base ones from now on."""
        self._overlay = overlay
        self._merged_from = None

    def _current(self) -> dict[str, ModelAlias]:
        overlay = self._overlay
        if overlay is not None and overlay.data is not self._merged_from:
            data = overlay.data
            self._aliases = self._merge(data)
            self._merged_from = data
        return self._aliases

    def _merge(self, overlay: Mapping[str, ModelAlias]) -> dict[str, ModelAlias]:
        merged = dict(self._base)
        for key, alias in overlay.items():
            if alias.name != key:
                # Served under its name, listed under its key: refuse rather than guess which one is meant.
                MODEL_REGISTRY_REJECTED.labels("key_mismatch").inc()
                _log.warning("model registry key %r holds alias %r: ignored", key, alias.name)
                continue
            if alias.status == "deleted":
                merged.pop(key, None)
            else:
                merged[key] = alias
        overridden = sorted(set(self._base) & set(overlay))
        _log.info(
            "model catalog: %d aliases, %d from the registry (overriding %s)",
            len(merged),
            len(overlay),
            ", ".join(overridden) or "none",
        )
        return merged

    def resolve(self, name: str) -> ModelAlias | None:
        return self._current().get(name)

    def aliases(self) -> list[ModelAlias]:
        """The aliases offered to tenants (deprecated ones are not)."""
        return [alias for alias in self._current().values() if alias.status == "active"]

    def deployments(self) -> list[Deployment]:
        seen: dict[str, Deployment] = {}
        for alias in self._current().values():
            for dep in alias.deployments:
                seen.setdefault(dep.name, dep)
        return list(seen.values())


# The simulator's rule-based models (provider_sim.rulemodels), served as aliases of the same name, priced as the
# small model so their calls are metered like any other.
SIM_RULE_MODELS = ("sim-policy-v1", "sim-policy-v1-degraded", "sim-judge-v1")


def _default_aliases(settings: GatewaySettings) -> list[dict[str, object]]:
    sim = settings.provider_sim_url.rstrip("/")
    mini = {"input_usd_per_1k": "0.00015", "output_usd_per_1k": "0.0006"}
    large = {"input_usd_per_1k": "0.0025", "output_usd_per_1k": "0.01"}
    sonnet = {"input_usd_per_1k": "0.003", "output_usd_per_1k": "0.015"}
    if settings.openai_api_key:
        gpt_mini = [
            {
                "name": "openai-gpt-4o-mini",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": "https://api.openai.com/v1",
                "credentials_ref": "openai",
                **mini,
            }
        ]
        gpt = [
            {
                "name": "openai-gpt-4o",
                "provider": "openai",
                "model": "gpt-4o",
                "base_url": "https://api.openai.com/v1",
                "credentials_ref": "openai",
                **large,
            }
        ]
    else:
        gpt_mini = [
            {
                "name": "sim-openai-primary",
                "provider": "openai",
                "model": "sim-gpt-small",
                "base_url": f"{sim}/v1",
                **mini,
            },
            {
                "name": "sim-openai-secondary",
                "provider": "openai",
                "model": "sim-gpt-small-b",
                "base_url": f"{sim}/v1",
                **mini,
            },
        ]
        gpt = [
            {
                "name": "sim-openai-large",
                "provider": "openai",
                "model": "sim-gpt-large",
                "base_url": f"{sim}/v1",
                **large,
            }
        ]
    if settings.anthropic_api_key:
        claude = [
            {
                "name": "anthropic-sonnet",
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "base_url": "https://api.anthropic.com",
                "credentials_ref": "anthropic",
                **sonnet,
            }
        ]
    else:
        claude = [
            {
                "name": "sim-anthropic",
                "provider": "anthropic",
                "model": "sim-claude",
                "base_url": sim,
                **sonnet,
            }
        ]
    aliases: list[dict[str, object]] = [
        {"name": "gpt-4o-mini", "deployments": gpt_mini},
        {"name": "gpt-4o", "deployments": gpt},
        {"name": "claude-sonnet", "deployments": claude},
    ]
    if not settings.openai_api_key:  # the simulator is the upstream: offer its rule models (evals' policy, judge)
        aliases += [
            {"name": model, "deployments": [{"name": model, "provider": "openai", "model": model,
                                             "base_url": f"{sim}/v1", **mini}]}
            for model in SIM_RULE_MODELS
        ]  # fmt: skip
    return aliases


def failover_problems(alias: ModelAlias, budget: FailoverBudget) -> list[str]:
    """Why `alias`'s deployments cannot always fail over inside the deadline (aiaas.resilience.failover_budget)."""
    timed = [TimedDeployment(d.name, d.timeout_s, d.first_byte_timeout_s) for d in alias.deployments]
    return [f"deployments.{p.index}.{p.field}: {p.message}" for p in budget.problems(timed)]


def load_catalog(settings: GatewaySettings) -> Catalog:
    """The base aliases; ValueError (the gateway does not start) when one's timeouts leave no room for failover."""
    if settings.models_file is not None:
        raw = yaml.safe_load(Path(settings.models_file).read_text())
        entries = raw["aliases"] if isinstance(raw, dict) else raw
        source = f"GATEWAY_MODELS_FILE {settings.models_file}"
    else:
        entries = _default_aliases(settings)
        source = "the default aliases"
    aliases = [ModelAlias.model_validate(entry) for entry in entries]
    problems = [f"alias {a.name!r} {problem}" for a in aliases for problem in failover_problems(a, settings)]
    if problems:
        raise ValueError(f"{source} cannot always fail over inside the deadline: " + "; ".join(problems))
    return Catalog(aliases)
