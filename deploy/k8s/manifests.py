"""Kubernetes objects for one workload: Deployment, Service, ServiceAccount, PDB, and its ScaledObject or HPA.

Every pod gets the same hardening (numeric non-root user, read-only root with an emptyDir /tmp, no privilege
escalation, ALL capabilities dropped, RuntimeDefault seccomp, no service-account token): the platform never talks
to the Kubernetes API.
"""

from __future__ import annotations

from typing import Any

from workloads import (
    APP_UID,
    CONFIG_ENV,
    OPTIONAL_SECRETS,
    SECRET_ENV,
    Process,
)

Obj = dict[str, Any]
NAME_LABEL = "app.kubernetes.io/name"
TRIGGER_AUTH = "keda-nats-jetstream"
CONFIG_MAP = "aiaas-config"


def meta(name: str, component: str) -> Obj:
    return {"name": name, "labels": {NAME_LABEL: name, "app.kubernetes.io/component": component}}


def pod_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": APP_UID,
        "runAsGroup": APP_UID,
        "fsGroup": APP_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> Obj:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def env_entry(name: str, value: str) -> Obj:
    if name in SECRET_ENV:
        secret, key = SECRET_ENV[name]
        ref: Obj = {"name": secret, "key": key}
        if name in OPTIONAL_SECRETS:
            ref["optional"] = True
        return {"name": name, "valueFrom": {"secretKeyRef": ref}}
    if name in CONFIG_ENV:
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": CONFIG_MAP, "key": name}}}
    return {"name": name, "value": value}


def _probe(path: str, port: str, **extra: int) -> Obj:
    return {"httpGet": {"path": path, "port": port}, **extra}


def probes(p: Process) -> Obj:
    """HTTP services answer /health/live and /health/ready; a worker's metrics listener answers any path while
    the process is up (prometheus_client), so its probes say "alive" only. The simulators have one /health."""
    port = "metrics" if p.worker else "http"
    live, ready = ("/health/live", "/health/ready") if p.health_path == "/health/live" else (p.health_path,) * 2
    start_budget = 60 if p.spec.slow_start else 30
    return {
        "startupProbe": _probe(live, port, periodSeconds=2, failureThreshold=start_budget),
        "livenessProbe": _probe(live, port, periodSeconds=10, timeoutSeconds=3, failureThreshold=3),
        "readinessProbe": _probe(ready, port, periodSeconds=5, timeoutSeconds=3, failureThreshold=2),
    }


def deployment(p: Process) -> Obj:
    spec = p.spec
    ports = []
    if p.port is not None:
        ports.append({"name": "http", "containerPort": p.port, "protocol": "TCP"})
    if p.metrics_port is not None:
        ports.append({"name": "metrics", "containerPort": p.metrics_port, "protocol": "TCP"})
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 - a mount point, not a temp file
    volumes: list[Obj] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    for i, path in enumerate(p.writable_dirs):
        mounts.append({"name": f"state-{i}", "mountPath": path})
        volumes.append({"name": f"state-{i}", "emptyDir": {"sizeLimit": "1Gi"}})
    container: Obj = {
        "name": spec.name,
        "image": f"{p.image}:dev",
        "imagePullPolicy": "IfNotPresent",
        "command": list(p.command),
        "env": [env_entry(k, v) for k, v in p.env.items()],
        "ports": ports,
        **probes(p),
        "resources": {
            "requests": {"cpu": f"{spec.cpu_m}m", "memory": f"{spec.memory_mi}Mi"},
            "limits": {"memory": f"{spec.memory_mi * 2}Mi"},
        },
        "securityContext": container_security(),
        "volumeMounts": mounts,
    }
    labels = {NAME_LABEL: spec.name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(spec.name, "worker" if p.worker else "api"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "app.kubernetes.io/component": "worker" if p.worker else "api"}},
                "spec": {
                    "serviceAccountName": spec.name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": spec.grace_s,
                    "securityContext": pod_security(),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def service(p: Process) -> Obj:
    ports = []
    if p.port is not None:
        ports.append({"name": "http", "port": p.port, "targetPort": "http", "protocol": "TCP"})
    if p.metrics_port is not None:
        ports.append({"name": "metrics", "port": p.metrics_port, "targetPort": "metrics", "protocol": "TCP"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(p.spec.name, "worker" if p.worker else "api"),
        "spec": {"selector": {NAME_LABEL: p.spec.name}, "ports": ports},
    }


def service_account(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, "identity"),
            "automountServiceAccountToken": False}  # fmt: skip


def pdb(name: str) -> Obj:
    """maxUnavailable 1: a node drain may always evict one pod, even at one replica."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name, "availability"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {NAME_LABEL: name}}},
    }


def scaled_object(p: Process, streams: dict[str, str]) -> Obj:
    """One nats-jetstream trigger per durable consumer the process reads (KEDA takes the largest)."""
    spec = p.spec
    triggers = []
    for consumer in spec.consumers:
        triggers.append(
            {
                "type": "nats-jetstream",
                "name": consumer,
                "metadata": {
                    "stream": streams[consumer],
                    "consumer": consumer,
                    "lagThreshold": str(spec.lag_threshold),
                    "activationLagThreshold": str(max(1, spec.lag_threshold // 10)),
                },
                "authenticationRef": {"name": TRIGGER_AUTH},
            }
        )
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta(spec.name, "autoscaling"),
        "spec": {
            "scaleTargetRef": {"name": spec.name},
            "minReplicaCount": 1,
            "maxReplicaCount": spec.max_replicas,
            "pollingInterval": 15,
            # Longer than a batch: a consumer scaled in finishes (and acks) what it fetched.
            "cooldownPeriod": 300,
            "fallback": {"failureThreshold": 3, "replicas": max(2, spec.max_replicas // 4)},
            "triggers": triggers,
        },
    }


def hpa(p: Process) -> Obj:
    spec = p.spec
    # realtime: one pod a couple of minutes at most, each drains its sockets (grace) before the next goes.
    down_policy = (
        {"type": "Pods", "value": 1, "periodSeconds": 120}
        if spec.name == "realtime"
        else {"type": "Percent", "value": 50, "periodSeconds": 60}
    )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(spec.name, "autoscaling"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": 2,
            "maxReplicas": spec.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": n, "target": {"type": "Utilization", "averageUtilization": u}},
                }
                for n, u in (("cpu", 70), ("memory", 80))
            ],
            "behavior": {
                "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [down_policy], "selectPolicy": "Min"},
                "scaleUp": {"stabilizationWindowSeconds": 0},
            },
        },
    }
