"""Rules about how the objects of a render point at each other: KEDA's triggers and targets, HPAs, Service and PDB
selectors, named ports, and PDBs that must never block a node drain at the workload's minimum scale."""

from __future__ import annotations

import re
from typing import Any

from .core import Doc, Finding, Render, ident, pod_spec

# The nats-jetstream scaler's metadata keys (KEDA docs, scalers/nats-jetstream).
NATS_KEYS = {
    "natsServerMonitoringEndpoint",
    "account",
    "accountID",
    "stream",
    "consumer",
    "lagThreshold",
    "activationLagThreshold",
    "useHttps",
}
NUMERIC_KEYS = ("lagThreshold", "activationLagThreshold")
INTEGER = re.compile(r"^[0-9]+$")
WORKLOADS = ("Deployment", "StatefulSet")


def _labels(doc: Doc) -> dict[str, str]:
    template = (doc.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _targets(render: Render, selector: dict[str, str]) -> list[Doc]:
    return [d for d in render.of_kind(*WORKLOADS) if _selects(selector, _labels(d))]


def keda(render: Render) -> list[Finding]:
    out: list[Finding] = []
    deployments = render.names("Deployment")
    auths = {d["metadata"]["name"]: d for d in render.of_kind("TriggerAuthentication")}
    for so in render.of_kind("ScaledObject"):
        where = f"{render.label} {ident(so)}"
        spec = so.get("spec") or {}
        target = (spec.get("scaleTargetRef") or {}).get("name")
        if target not in deployments:
            out.append(
                Finding("dangling-reference", where, f"scaleTargetRef {target!r} names no Deployment in the render")
            )
        for trig in spec.get("triggers") or []:
            if trig.get("type") != "nats-jetstream":
                continue
            meta: dict[str, Any] = trig.get("metadata") or {}
            for key in sorted(set(meta) - NATS_KEYS):
                out.append(Finding("keda-metadata", where, f"nats-jetstream metadata key {key!r} is not the scaler's"))
            for key in ("stream", "consumer", "lagThreshold"):
                if key not in meta:
                    out.append(Finding("keda-metadata", where, f"nats-jetstream trigger without {key!r}"))
            for key in NUMERIC_KEYS:
                if key in meta and not (isinstance(meta[key], str) and INTEGER.match(meta[key])):
                    out.append(Finding("keda-metadata", where, f"{key} must be an integer string, got {meta[key]!r}"))
            ref = (trig.get("authenticationRef") or {}).get("name")
            if ref is None:
                if "natsServerMonitoringEndpoint" not in meta:
                    out.append(
                        Finding("keda-metadata", where, "no authenticationRef and no natsServerMonitoringEndpoint")
                    )
                continue
            if ref not in auths:
                out.append(
                    Finding("dangling-reference", where, f"authenticationRef {ref!r} names no TriggerAuthentication")
                )
                continue
            params = {t.get("parameter") for t in (auths[ref].get("spec") or {}).get("secretTargetRef") or []}
            for needed in ("natsServerMonitoringEndpoint", "account"):
                if needed not in params and needed not in meta:
                    out.append(Finding("keda-metadata", where, f"TriggerAuthentication {ref!r} gives no {needed!r}"))
    return out


def autoscalers(render: Render) -> list[Finding]:
    out: list[Finding] = []
    deployments = render.names("Deployment")
    keda_targets = {
        (so.get("spec") or {}).get("scaleTargetRef", {}).get("name") for so in render.of_kind("ScaledObject")
    }
    for hpa in render.of_kind("HorizontalPodAutoscaler"):
        target = ((hpa.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
        where = f"{render.label} {ident(hpa)}"
        if target not in deployments:
            out.append(
                Finding("dangling-reference", where, f"scaleTargetRef {target!r} names no Deployment in the render")
            )
        if target in keda_targets:
            out.append(Finding("hpa-conflict", where, f"Deployment {target!r} has both an HPA and a ScaledObject"))
    return out


def min_scale(render: Render, deployment: Doc) -> int:
    name = deployment["metadata"]["name"]
    for so in render.of_kind("ScaledObject"):
        if (so.get("spec") or {}).get("scaleTargetRef", {}).get("name") == name:
            return int(so["spec"].get("minReplicaCount", 0))
    for hpa in render.of_kind("HorizontalPodAutoscaler"):
        if (hpa.get("spec") or {}).get("scaleTargetRef", {}).get("name") == name:
            return int(hpa["spec"].get("minReplicas", 1))
    return int((deployment.get("spec") or {}).get("replicas", 1))


def _blocks(pdb: Doc, replicas: int) -> str | None:
    spec = pdb.get("spec") or {}
    if "maxUnavailable" in spec:
        value = spec["maxUnavailable"]
        return "maxUnavailable 0 never lets a pod be evicted" if value in (0, "0", "0%") else None
    value = spec.get("minAvailable")
    if value is None:
        return None
    if isinstance(value, str) and value.endswith("%"):
        return "minAvailable 100% never lets a pod be evicted" if value == "100%" else None
    if replicas > 0 and int(value) >= replicas:
        return f"minAvailable {value} with {replicas} replica(s) at minimum scale blocks a node drain"
    return None


def pdbs(render: Render) -> list[Finding]:
    out: list[Finding] = []
    covered: set[str] = set()
    for pdb in render.of_kind("PodDisruptionBudget"):
        where = f"{render.label} {ident(pdb)}"
        selector = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        targets = _targets(render, selector)
        if not targets:
            out.append(Finding("dangling-reference", where, f"selector {selector} matches no workload in the render"))
        for target in targets:
            covered.add(target["metadata"]["name"])
            problem = _blocks(pdb, min_scale(render, target))
            if problem:
                out.append(Finding("pdb-blocks-drain", where, f"{problem} ({ident(target)})"))
    for dep in render.of_kind("Deployment"):
        if dep["metadata"]["name"] not in covered:
            out.append(Finding("pdb-missing", f"{render.label} {ident(dep)}", "no PodDisruptionBudget selects it"))
    return out


def services(render: Render) -> list[Finding]:
    out: list[Finding] = []
    for svc in render.of_kind("Service"):
        where = f"{render.label} {ident(svc)}"
        selector = (svc.get("spec") or {}).get("selector") or {}
        targets = _targets(render, selector)
        if not targets:
            out.append(Finding("dangling-reference", where, f"selector {selector} matches no workload in the render"))
            continue
        named: set[Any] = set()
        for target in targets:
            for c in (pod_spec(target) or {}).get("containers") or []:
                for port in c.get("ports") or []:
                    named.update({port.get("name"), port.get("containerPort")})
        for port in (svc.get("spec") or {}).get("ports") or []:
            wanted = port.get("targetPort", port.get("port"))
            if wanted not in named:
                out.append(Finding("port-mismatch", where, f"targetPort {wanted!r} is no container port of its pods"))
    return out


def pod_references(render: Render) -> list[Finding]:
    """ServiceAccounts and ConfigMaps a pod names exist in the render (Secrets are created by the operator)."""
    out: list[Finding] = []
    accounts, maps = render.names("ServiceAccount"), render.names("ConfigMap")
    for doc in render.docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        where = f"{render.label} {ident(doc)}"
        account = spec.get("serviceAccountName")
        if account and account not in accounts:
            out.append(Finding("dangling-reference", where, f"serviceAccountName {account!r} names no ServiceAccount"))
        for c in spec.get("containers") or []:
            for env in c.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
                if ref and ref.get("name") not in maps:
                    out.append(
                        Finding("dangling-reference", where, f"configMapKeyRef {ref.get('name')!r} names no ConfigMap")
                    )
            for port in c.get("ports") or []:
                if not port.get("name"):
                    out.append(
                        Finding("port-mismatch", where, f"container port {port.get('containerPort')} has no name")
                    )
    return out


def check(render: Render) -> list[Finding]:
    return keda(render) + autoscalers(render) + pdbs(render) + services(render) + pod_references(render)
