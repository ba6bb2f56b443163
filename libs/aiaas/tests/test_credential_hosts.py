"""Host rules of provider credentials: exact hosts, `*.suffix`, https unless a rule allows plain http."""

from __future__ import annotations

import re

import pytest

from aiaas.credential_hosts import CredentialHostError, CredentialHosts, HostRule


def test_builtin_and_declared_hosts() -> None:
    hosts = CredentialHosts.from_declaration({"groq": ["api.groq.com"], "azure": ["*.openai.azure.com"]})
    assert hosts.check("openai", "https://api.openai.com/v1") == "api.openai.com"
    assert hosts.check("anthropic", "https://API.Anthropic.com") == "api.anthropic.com"
    assert hosts.check("sim", "http://127.0.0.1:8090/v1") == "127.0.0.1"
    assert hosts.check("groq", "https://api.groq.com/openai/v1") == "api.groq.com"
    assert hosts.check("azure", "https://eu.openai.azure.com/x") == "eu.openai.azure.com"
    refused = [
        ("openai", "https://evil.example/v1", "allowed hosts are api.openai.com"),
        ("openai", "http://api.openai.com/v1", "only https"),
        ("openai", "https://api.openai.com.evil.example/v1", "allowed hosts"),
        ("openai", "https://api.openai.com@evil.example/v1", "user info or backslashes"),
        ("openai", "https://evil.example\\@api.openai.com/v1", "user info or backslashes"),
        ("sim", "https://api.openai.com/v1", "allowed hosts are http://127.0.0.1, http://localhost"),
        ("groq", "https://api.openai.com/v1", "allowed hosts are api.groq.com"),
        ("azure", "https://openai.azure.com/x", "allowed hosts"),  # a wildcard matches below, not itself
        ("vault:x", "https://api.openai.com/v1", "declares no hosts"),
        ("openai", "ftp://api.openai.com", "not an absolute http(s) URL"),
    ]
    for credential, url, why in refused:
        with pytest.raises(CredentialHostError, match=re.escape(why)) as caught:
            hosts.check(credential, url)
        assert caught.value.credential == credential


def test_a_declaration_replaces_the_builtin_rules_of_its_name() -> None:
    hosts = CredentialHosts.from_declaration({"sim": ["http://provider-sim"]})
    assert hosts.check("sim", "http://provider-sim:8090/v1") == "provider-sim"
    with pytest.raises(CredentialHostError):
        hosts.check("sim", "http://127.0.0.1:8090/v1")


@pytest.mark.parametrize("rule", ["api.x.com/v1", "api.x.com:443", "http://*.x.com", "", "a b", "https://x.com"])
def test_bad_rules_are_refused(rule: str) -> None:
    with pytest.raises(ValueError, match="not a host rule|plain http"):
        HostRule.parse(rule)
