"""Acceptance 4: the connections the rendered prod (and dev) NetworkPolicies allow are exactly flows.yaml's, and one
extra open flow is caught. Evaluated by k8s_checks.connectivity (our evaluator of the policy semantics)."""

from __future__ import annotations

import copy

from k8s_checks.connectivity import allowed_connections, check, dns_blocked, load_flows
from k8s_checks.core import Render


def _ports(rendered: Render, flows: set[tuple[str, str, int]]) -> set[int]:
    ports = {port for _, _, port in flows}
    for dep in rendered.of_kind("Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            ports |= {p["containerPort"] for p in c.get("ports") or []}
    return ports


def test_prod_policies_allow_exactly_the_flows(renders: dict[str, Render]) -> None:
    peers, flows = load_flows("prod")
    allowed = allowed_connections(renders["prod"], "prod", peers, _ports(renders["prod"], flows))
    assert allowed == flows
    assert ("gateway", "internet", 443) in allowed
    assert ("public", "gateway", 8080) in allowed
    assert ("analytics", "redis", 6379) not in allowed  # analytics does not use Redis
    assert ("keda", "nats", 8222) not in allowed  # prod NATS is outside the namespace
    assert dns_blocked(renders["prod"], "prod", peers) == []


def test_dev_policies_allow_exactly_the_dev_flows(renders: dict[str, Render]) -> None:
    assert check(renders["dev"], "dev") == []
    peers, flows = load_flows("dev")
    assert ("keda", "nats", 8222) in flows
    assert ("gateway", "provider-sim", 8090) in flows


def test_one_extra_open_flow_fails(renders: dict[str, Render]) -> None:
    prod = renders["prod"]
    extra = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-billing-to-router", "namespace": "aiaas"},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "billing"}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "router"}}}],
                    "ports": [{"protocol": "TCP", "port": 8088}],
                }
            ],
        },
    }
    # billing's egress alone does not open it: router's ingress from billing must be allowed too.
    one_side = Render(prod.overlay, [*copy.deepcopy(prod.docs), extra], prod.text)
    assert check(one_side, "prod") == []
    router_ingress = copy.deepcopy(extra)
    router_ingress["metadata"]["name"] = "allow-router-from-billing"
    router_ingress["spec"] = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "router"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "billing"}}}],
                "ports": [{"protocol": "TCP", "port": "http"}],  # a named port resolves to 8088
            }
        ],
    }
    both = Render(prod.overlay, [*one_side.docs, router_ingress], prod.text)
    findings = check(both, "prod")
    assert [f.message for f in findings] == ["open but not in flows.yaml: billing -> router:8088"]


def test_a_missing_policy_blocks_a_declared_flow(renders: dict[str, Render]) -> None:
    prod = renders["prod"]
    docs = [d for d in prod.docs if d["metadata"]["name"] != "allow-realtime" or d["kind"] != "NetworkPolicy"]
    findings = check(Render(prod.overlay, docs, prod.text), "prod")
    messages = {f.message for f in findings}
    assert "in flows.yaml but blocked: realtime -> gateway:8080" in messages
    assert "in flows.yaml but blocked: public -> realtime:8085" in messages
    assert all(f.rule == "flows" for f in findings)
