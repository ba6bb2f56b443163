"""Which connections a render's NetworkPolicies allow, compared with deploy/k8s/flows.yaml.

Our own evaluator of the NetworkPolicy semantics (network-config-analyzer installs, but its connectivity report
names pods by generated endpoints; this keeps the comparison in flows.yaml's terms). A connection src -> dst:port
is allowed when src's egress allows it (or no Egress policy selects src) and dst's ingress allows it (or no
Ingress policy selects dst); peers outside the namespace are stand-in endpoints with fixed labels and addresses.
Pods and the infrastructure hosts are probed on the ports they listen on, the internet and the OTLP collector on
every port any flow or container uses, so an over-broad rule shows up as an extra connection. In prod Postgres,
NATS and Redis are private addresses the policies cannot tell apart: narrow flows.yaml's `private` to their subnet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .core import ROOT, Doc, Finding, Render, pod_spec

NAMESPACE = "aiaas"
NAME_LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str | None  # None: outside the cluster
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    ip: str | None = None
    ports: dict[str, int] = field(default_factory=dict, hash=False, compare=False)  # named container ports


def _outside(peers: dict[str, Any], overlay: str) -> dict[str, Endpoint]:
    """Stand-ins for flows.yaml's non-workload peers, as they would appear to a policy."""

    def pod(name: str) -> Endpoint:
        spec = peers[name]
        return Endpoint(name, spec["namespace"], dict(spec["pod"]))

    out = {
        "public": Endpoint("public", None, ip="203.0.113.10"),
        "internet": Endpoint("internet", None, ip="8.8.8.8"),
        **{n: pod(n) for n in ("prometheus", "keda", "otlp", "dns")},
    }
    if overlay != "dev":  # external infrastructure on private addresses
        infra = {"postgres": {"postgres": 5432}, "nats": {"client": 4222, "monitoring": 8222}, "redis": {"redis": 6379}}
        out |= {n: Endpoint(n, None, ip=f"10.20.0.{i}", ports=p) for i, (n, p) in enumerate(infra.items(), 1)}
    return out


def _pods(render: Render) -> dict[str, Endpoint]:
    out = {}
    for doc in render.docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        template = doc["spec"].get("template") or doc["spec"]["jobTemplate"]["spec"]["template"]
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        ports = {p["name"]: p["containerPort"] for c in spec["containers"] for p in c.get("ports") or [] if "name" in p}
        out[labels[NAME_LABEL]] = Endpoint(labels[NAME_LABEL], NAMESPACE, labels, ports=ports)
    return out


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    match = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in match.items())


def _peer_matches(peer: Doc, ep: Endpoint) -> bool:
    if "ipBlock" in peer:
        if ep.ip is None:
            return False  # pods are matched by selectors, not by address
        block = peer["ipBlock"]
        addr = ipaddress.ip_address(ep.ip)
        inside = addr in ipaddress.ip_network(block["cidr"])
        return inside and not any(addr in ipaddress.ip_network(e) for e in block.get("except") or [])
    if ep.namespace is None:
        return False
    if "namespaceSelector" in peer:
        ns_ok = _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": ep.namespace})
    else:
        ns_ok = ep.namespace == NAMESPACE
    return ns_ok and _selects(peer.get("podSelector"), ep.labels)


def _port_matches(rule_ports: list[Doc] | None, port: int, dst: Endpoint) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        value = p.get("port")
        if value is None or value == port or (isinstance(value, str) and dst.ports.get(value) == port):
            if p.get("protocol", "TCP") == "TCP":
                return True
    return False


def _allowed(policies: list[Doc], pod: Endpoint, other: Endpoint, port: int, direction: str, dst: Endpoint) -> bool:
    kind, key, peers_key = ("Egress", "egress", "to") if direction == "egress" else ("Ingress", "ingress", "from")
    selecting = [
        p
        for p in policies
        if kind in (p["spec"].get("policyTypes") or []) and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(peer, other) for peer in peers)) and _port_matches(
                rule.get("ports"), port, dst
            ):
                return True
    return False


def load_flows(overlay: str, path: Path | None = None) -> tuple[dict[str, Any], set[tuple[str, str, int]]]:
    doc = yaml.safe_load((path or ROOT / "deploy" / "k8s" / "flows.yaml").read_text())
    flows = {
        (f["from"], f["to"], int(f["port"])) for f in doc["flows"] if "overlays" not in f or overlay in f["overlays"]
    }
    return doc["peers"], flows


def allowed_connections(
    render: Render, overlay: str, peers: dict[str, Any], ports: set[int]
) -> set[tuple[str, str, int]]:
    pods = _pods(render)
    outside = _outside(peers, overlay)
    policies = [p for p in render.of_kind("NetworkPolicy")]
    sources = {**pods, **{n: outside[n] for n in ("public", "prometheus", "keda")}}
    dests = {**pods, **{n: e for n, e in outside.items() if n not in ("public", "prometheus", "keda", "dns")}}
    out = set()
    for src in sources.values():
        for dst in dests.values():
            if src.name == dst.name or NAMESPACE not in (src.namespace, dst.namespace):
                continue
            # A destination is probed on what it listens on; the internet and the collector on every port in use.
            probe = set(dst.ports.values()) if dst.ports else ports
            for port in probe:
                egress = src.namespace != NAMESPACE or _allowed(policies, src, dst, port, "egress", dst)
                ingress = dst.namespace != NAMESPACE or _allowed(policies, dst, src, port, "ingress", dst)
                if egress and ingress:
                    out.add((src.name, dst.name, port))
    return out


def dns_blocked(render: Render, overlay: str, peers: dict[str, Any]) -> list[str]:
    dns = _outside(peers, overlay)["dns"]
    policies = [p for p in render.of_kind("NetworkPolicy")]
    return sorted(n for n, pod in _pods(render).items() if not _allowed(policies, pod, dns, 53, "egress", dns))


def check(render: Render, overlay: str) -> list[Finding]:
    peers, flows = load_flows(overlay)
    ports = {port for _, _, port in flows} | {p for e in _pods(render).values() for p in e.ports.values()}
    allowed = allowed_connections(render, overlay, peers, ports)
    where = f"{render.label} NetworkPolicy"
    out = [
        Finding("flows", where, f"open but not in flows.yaml: {s} -> {d}:{p}") for s, d, p in sorted(allowed - flows)
    ]
    out += [
        Finding("flows", where, f"in flows.yaml but blocked: {s} -> {d}:{p}") for s, d, p in sorted(flows - allowed)
    ]
    out += [Finding("flows", where, f"{name} cannot reach DNS (53)") for name in dns_blocked(render, overlay, peers)]
    return out
