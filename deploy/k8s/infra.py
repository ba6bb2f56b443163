"""The dev overlay's own NATS (JetStream, monitoring 8222 behind a headless Service), Postgres (pgvector) and Redis.

Same images as docker-compose.yml, same hardening as the platform's pods (each runs as its image's numeric user);
state on emptyDir: dev data does not outlive the pod. Prod points at external ones through Secrets instead.
"""

from __future__ import annotations

from typing import Any

from manifests import NAME_LABEL, Obj, container_security, meta, pdb, service_account
from workloads import compose


def _deployment(name: str, image: str, uid: int, container: Obj, dirs: dict[str, str], grace: int = 30) -> Obj:
    labels = {NAME_LABEL: name}
    mounts = [{"name": vol, "mountPath": path} for vol, path in dirs.items()]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, "infra"),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "app.kubernetes.io/component": "infra"}},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": grace,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": uid,
                        "runAsGroup": uid,
                        "fsGroup": uid,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "imagePullPolicy": "IfNotPresent",
                            **container,
                            "securityContext": container_security(),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": [{"name": vol, "emptyDir": {}} for vol in dirs],
                },
            },
        },
    }


def _service(name: str, ports: dict[str, int], headless: bool = False) -> Obj:
    spec: Obj = {
        "selector": {NAME_LABEL: name.removesuffix("-monitoring")},
        "ports": [{"name": n, "port": p, "targetPort": n, "protocol": "TCP"} for n, p in ports.items()],
    }
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, "infra"), "spec": spec}


def _exec(*cmd: str, **extra: int) -> Obj:
    return {"exec": {"command": list(cmd)}, **extra}


def objects() -> list[Obj]:
    images: dict[str, Any] = {n: compose()["services"][n]["image"] for n in ("nats", "postgres", "redis")}
    res = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    nats_http = {"httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitoring"}}
    nats = _deployment(
        "nats",
        images["nats"],
        1000,
        {
            "args": ["-js", "-sd", "/data", "-m", "8222"],
            "ports": [
                {"name": "client", "containerPort": 4222, "protocol": "TCP"},
                {"name": "monitoring", "containerPort": 8222, "protocol": "TCP"},
            ],
            "startupProbe": {**nats_http, "periodSeconds": 2, "failureThreshold": 30},
            "livenessProbe": {**nats_http, "periodSeconds": 10},
            "readinessProbe": {**nats_http, "periodSeconds": 5},
            "resources": res,
        },
        {"data": "/data"},
    )
    postgres = _deployment(
        "postgres",
        images["postgres"],
        999,
        {
            "env": [
                {
                    "name": "POSTGRES_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "aiaas-postgres-superuser", "key": "POSTGRES_PASSWORD"}},
                },
                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
            ],
            "ports": [{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}],
            "startupProbe": _exec(
                "pg_isready", "-h", "127.0.0.1", "-U", "postgres", periodSeconds=2, failureThreshold=60
            ),  # fmt: skip
            "livenessProbe": _exec("pg_isready", "-h", "127.0.0.1", "-U", "postgres", periodSeconds=10),
            "readinessProbe": _exec("pg_isready", "-h", "127.0.0.1", "-U", "postgres", periodSeconds=5),
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        },
        {"data": "/var/lib/postgresql/data", "run": "/var/run/postgresql", "tmp": "/tmp"},  # noqa: S108
        grace=60,
    )
    redis = _deployment(
        "redis",
        images["redis"],
        999,
        {
            "args": ["redis-server", "--save", "", "--appendonly", "no"],
            "ports": [{"name": "redis", "containerPort": 6379, "protocol": "TCP"}],
            "startupProbe": _exec("redis-cli", "ping", periodSeconds=2, failureThreshold=30),
            "livenessProbe": _exec("redis-cli", "ping", periodSeconds=10),
            "readinessProbe": _exec("redis-cli", "ping", periodSeconds=5),
            "resources": res,
        },
        {"data": "/data"},
    )
    out = [nats, postgres, redis]
    out += [
        _service("nats", {"client": 4222}),
        _service("nats-monitoring", {"monitoring": 8222}, headless=True),
        _service("postgres", {"postgres": 5432}),
        _service("redis", {"redis": 6379}),
    ]
    for name in ("nats", "postgres", "redis"):
        out += [service_account(name), pdb(name)]
    return out
