"""Which hosts each provider credential may be sent to: one declaration, read by the control plane and the gateway.

A deployment names a credential (`credentials_ref`) and a `base_url`. Without a binding, whoever may
register a deployment could point `credentials_ref: openai` at a host of their own and receive the
OpenAI key. So each credential declares its hosts, and a `base_url` outside them is refused: by the
control plane's registry at the PUT (422) and by the gateway before it attaches the key.

Rules (one string each):

- `api.groq.com`: exactly that host, over https;
- `*.groq.com`: any host below `groq.com` (not `groq.com` itself), over https;
- `http://127.0.0.1`: that host over plain http too (meant for loopback stand-ins such as the provider
  simulator); every other rule needs https.

Built-ins: `openai` -> `api.openai.com`, `anthropic` -> `api.anthropic.com`, `sim` -> `http://127.0.0.1`,
`http://localhost`. The declaration (env `PROVIDER_CREDENTIAL_HOSTS`, a JSON object of name -> rules)
adds credentials and replaces the built-in rules of a name it lists, e.g.
`{"groq": ["api.groq.com"], "sim": ["http://provider-sim"]}`. A credential with no rules goes nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

__all__ = [
    "BUILTIN_CREDENTIAL_HOSTS",
    "CredentialHostDeclaration",
    "CredentialHostError",
    "CredentialHosts",
    "HostRule",
    "PUBLIC_BASE_URLS",
]

BUILTIN_CREDENTIAL_HOSTS: Mapping[str, tuple[str, ...]] = {
    "openai": ("api.openai.com",),
    "anthropic": ("api.anthropic.com",),
    "sim": ("http://127.0.0.1", "http://localhost"),
}

# Where a deployment of these providers without a `base_url` goes (registry documents may omit it).
PUBLIC_BASE_URLS: Mapping[str, str] = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}

# A DNS name or an IPv4 literal; `*.` in front for a wildcard. Lower case only after normalising.
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*$")


class CredentialHostError(ValueError):
    """A `base_url` whose host (or scheme) its credential does not allow; says which and why."""

    def __init__(self, credential: str, host: str, reason: str) -> None:
        super().__init__(f"credential {credential!r} may not be sent to host {host!r}: {reason}")
        self.credential = credential
        self.host = host
        self.reason = reason


@dataclass(frozen=True)
class HostRule:
    """One allowed host (or `*.suffix`), and whether plain http is allowed to it."""

    host: str
    plain_http: bool = False

    @classmethod
    def parse(cls, text: str) -> HostRule:
        """`api.x.com`, `*.x.com` or `http://host`; ValueError for anything else (a path, a port, a bad name)."""
        raw = text.strip().lower()
        plain_http = raw.startswith("http://")
        if plain_http:
            raw = raw.removeprefix("http://")
        if "/" in raw or ":" in raw or not _HOST.match(raw):
            raise ValueError(f"{text!r} is not a host rule (a host name, '*.suffix' or 'http://host')")
        if plain_http and raw.startswith("*."):
            raise ValueError(f"{text!r}: plain http is allowed only to one exact host")
        return cls(raw, plain_http)

    def matches(self, host: str) -> bool:
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def __str__(self) -> str:
        return f"http://{self.host}" if self.plain_http else self.host


def _validate(declaration: dict[str, list[str]]) -> dict[str, list[str]]:
    for name, rules in declaration.items():
        if not name:
            raise ValueError("a credential name cannot be empty")
        for rule in rules:
            HostRule.parse(rule)
    return declaration


# The settings type of `PROVIDER_CREDENTIAL_HOSTS`: a bad rule fails at start, not at the first request.
CredentialHostDeclaration = Annotated[dict[str, list[str]], AfterValidator(_validate)]


class CredentialHosts:
    """The host rules of every credential: the built-ins with the declaration over them."""

    def __init__(self, rules: Mapping[str, Sequence[HostRule]]) -> None:
        self._rules = {name: tuple(found) for name, found in rules.items()}

    @classmethod
    def from_declaration(cls, declaration: Mapping[str, Sequence[str]] | None = None) -> CredentialHosts:
        merged = {**BUILTIN_CREDENTIAL_HOSTS, **(declaration or {})}
        return cls({name: [HostRule.parse(rule) for rule in rules] for name, rules in merged.items()})

    def rules(self, credential: str) -> tuple[HostRule, ...]:
        return self._rules.get(credential, ())

    def check(self, credential: str, url: str) -> str:
        """The URL's host when `credential` may be sent to `url`; CredentialHostError saying why not."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            raise CredentialHostError(credential, url[:100], "not a valid URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise CredentialHostError(credential, host or url[:100], "not an absolute http(s) URL")
        if "@" in parts.netloc or "\\" in url:
            # URL parsers disagree on these (the host one sees is not the one another connects to).
            raise CredentialHostError(credential, host, "user info or backslashes in the URL")
        rules = self.rules(credential)
        if not rules:
            raise CredentialHostError(credential, host, "the credential declares no hosts")
        matching = [rule for rule in rules if rule.matches(host)]
        if not matching:
            allowed = ", ".join(str(rule) for rule in rules)
            raise CredentialHostError(credential, host, f"allowed hosts are {allowed}")
        if parts.scheme == "http" and not any(rule.plain_http for rule in matching):
            raise CredentialHostError(credential, host, "only https is allowed to this host")
        return host
