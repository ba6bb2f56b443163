"""NetworkPolicies from deploy/k8s/flows.yaml: default-deny, DNS for every pod, then one policy per pod that
allows exactly its flows (ingress on the callee, egress on the caller)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import yaml
from manifests import NAME_LABEL, Obj, meta
from workloads import K8S

EXTERNAL = ("public", "internet", "prometheus", "keda", "otlp", "dns")
INFRA_PORTS = {"postgres": 5432, "nats": 4222, "redis": 6379}


@dataclass(frozen=True)
class Flow:
    src: str
    dst: str
    port: int
    overlays: tuple[str, ...] | None  # None: every overlay

    def in_overlay(self, overlay: str) -> bool:
        return self.overlays is None or overlay in self.overlays


def load_flows(path: Any = None) -> tuple[dict[str, Any], list[Flow]]:
    doc = yaml.safe_load((path or K8S / "flows.yaml").read_text())
    flows = [
        Flow(f["from"], f["to"], int(f["port"]), tuple(f["overlays"]) if "overlays" in f else None)
        for f in doc["flows"]
    ]
    return doc["peers"], flows


def peer(name: str, peers: dict[str, Any], overlay: str) -> Obj:
    """The NetworkPolicy peer of a flow end; infrastructure is a pod in dev and a private address in prod."""
    spec = peers.get(name)
    if spec is None or name in INFRA_PORTS:
        return {"podSelector": {"matchLabels": {NAME_LABEL: name}}}
    if "ipBlock" in spec:
        block: Obj = {"cidr": spec["ipBlock"]}
        if spec.get("except"):
            block["except"] = list(spec["except"])
        return {"ipBlock": block}
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": spec["namespace"]}},
        "podSelector": {"matchLabels": dict(spec["pod"])},
    }


def _peers(name: str, peers: dict[str, Any], overlay: str) -> list[Obj]:
    if name in INFRA_PORTS and overlay != "dev":
        return [{"ipBlock": {"cidr": cidr}} for cidr in peers["private"]]
    return [peer(name, peers, overlay)]


def default_deny() -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("default-deny", "network"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def allow_dns(peers: dict[str, Any]) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("allow-dns", "network"),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [peer("dns", peers, "any")],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }


def policies(overlay: str) -> list[Obj]:
    """One policy per pod with a flow in `overlay`, its rules grouped by (peer, port)."""
    peers, flows = load_flows()
    ingress: dict[str, list[Flow]] = defaultdict(list)
    egress: dict[str, list[Flow]] = defaultdict(list)
    for flow in flows:
        if not flow.in_overlay(overlay):
            continue
        if flow.dst not in EXTERNAL and not (flow.dst in INFRA_PORTS and overlay != "dev"):
            ingress[flow.dst].append(flow)
        if flow.src not in EXTERNAL:
            egress[flow.src].append(flow)
    out = []
    for pod in sorted(set(ingress) | set(egress)):
        spec: Obj = {"podSelector": {"matchLabels": {NAME_LABEL: pod}}, "policyTypes": []}
        if ingress[pod]:
            spec["policyTypes"].append("Ingress")
            spec["ingress"] = [
                {"from": _peers(f.src, peers, overlay), "ports": [{"protocol": "TCP", "port": f.port}]}
                for f in ingress[pod]
            ]
        if egress[pod]:
            spec["policyTypes"].append("Egress")
            spec["egress"] = [
                {"to": _peers(f.dst, peers, overlay), "ports": [{"protocol": "TCP", "port": f.port}]}
                for f in egress[pod]
            ]
        out.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": meta(f"allow-{pod}", "network"),
                "spec": spec,
            }
        )
    return out
