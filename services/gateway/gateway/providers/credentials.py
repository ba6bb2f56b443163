"""The gateway's provider keys, each handed out only for a deployment whose `base_url` its credential allows.

Keys: `OPENAI_API_KEY` (`openai`), `ANTHROPIC_API_KEY` (`anthropic`), the simulator's `sim`, and the
named ones of `GATEWAY_CREDENTIALS`. Hosts: `aiaas.credential_hosts` (built-ins and
`PROVIDER_CREDENTIAL_HOSTS`, the declaration the control plane's registry checks too). The check runs
on every deployment, whatever its source (models file, defaults, registry): the registry refuses a
bad host at the PUT, but a document written straight into the KV bucket, or a models file, never
passed through it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from prometheus_client import Counter

from aiaas.credential_hosts import CredentialHostError, CredentialHosts
from gateway.catalog.schemas import Deployment
from gateway.config import GatewaySettings
from gateway.providers.base import ProviderError

__all__ = ["CREDENTIAL_HOST_REFUSED", "CredentialHostRefused", "ProviderCredentials"]

_log = logging.getLogger(__name__)

CREDENTIAL_HOST_REFUSED = Counter(
    "gateway_credential_host_refused_total",
    "Upstream calls not made: the deployment's base_url host is not allowed for its credential",
    ["credential"],
)


class CredentialHostRefused(ProviderError):
    """This deployment may not be called with its credential (or has none): nothing was sent; failover goes on."""

    def __init__(self, exc: CredentialHostError, deployment: str) -> None:
        super().__init__(
            f"deployment {deployment!r} is not called: {exc}",
            status=502,
            retryable=False,
            code="credential_host_refused",
        )


class ProviderCredentials:
    """Credential name -> key, with the hosts each may be sent to."""

    def __init__(self, keys: Mapping[str, str], hosts: CredentialHosts) -> None:
        self._keys = {name: key for name, key in keys.items() if key}
        self._hosts = hosts
        self._allowed: dict[tuple[str, str], bool] = {}

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> ProviderCredentials:
        keys = {
            **settings.credentials,
            "openai": settings.openai_api_key,
            "anthropic": settings.anthropic_api_key,
            "sim": "sim-key",
        }
        return cls(keys, CredentialHosts.from_declaration(settings.provider_credential_hosts))

    def require(self, ref: str) -> None:
        """KeyError when this gateway holds no key named `ref` (a registry document naming it is refused)."""
        if ref not in self._keys:
            raise KeyError(f"no credential configured for '{ref}'")

    def refusal(self, deployment: Deployment) -> CredentialHostRefused | None:
        """Why `deployment` may not be called with its credential (counted and logged), or None."""
        pair = (deployment.credentials_ref, deployment.base_url)
        if self._allowed.get(pair):
            return None  # one dict read per attempt once a pair passed; deployments are immutable
        try:
            if deployment.credentials_ref not in self._keys:
                raise CredentialHostError(deployment.credentials_ref, "-", "this gateway holds no such credential")
            self._hosts.check(*pair)
        except CredentialHostError as exc:
            label = deployment.credentials_ref if deployment.credentials_ref in self._keys else "other"
            CREDENTIAL_HOST_REFUSED.labels(credential=label).inc()
            _log.warning("upstream call refused: %s (deployment %s)", exc, deployment.name)
            return CredentialHostRefused(exc, deployment.name)
        self._allowed[pair] = True
        return None

    def key_for(self, deployment: Deployment) -> str:
        """The key of the deployment's credential; raises CredentialHostRefused when its host is not allowed."""
        refused = self.refusal(deployment)
        if refused is not None:
            raise refused
        return self._keys[deployment.credentials_ref]
