"""The platform's processes as Kubernetes workloads: what compose already knows, plus the choices only k8s needs.

docker-compose.yml stays the source of each process's image, command, ports and environment (it is proven to start
by `make compose-test`); this table adds the base directory, scaling, resources and grace period. `generate.py`
writes the kustomize bases from both; the durable consumers come from aiaas.events.topology.CONSUMERS, the one
place they are declared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
IMAGE_PREFIX = "aiaas/"
APP_UID = 10001  # deploy/Dockerfile's `useradd --uid 10001`

# DSN and credential variables -> (Secret, key). Never literal: the base refers, the operator creates the Secret.
SECRET_ENV: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("aiaas-postgres", "DATABASE_URL"),
    "ADMIN_DATABASE_URL": ("aiaas-postgres", "ADMIN_DATABASE_URL"),
    "MIGRATION_DATABASE_URL": ("aiaas-postgres", "MIGRATION_DATABASE_URL"),
    "PG_SUPERUSER_URL": ("aiaas-postgres", "PG_SUPERUSER_URL"),
    "NATS_URL": ("aiaas-nats", "NATS_URL"),
    "REDIS_URL": ("aiaas-redis", "REDIS_URL"),
    "OPENAI_API_KEY": ("aiaas-providers", "OPENAI_API_KEY"),
    "ANTHROPIC_API_KEY": ("aiaas-providers", "ANTHROPIC_API_KEY"),
    "STRIPE_API_KEY": ("aiaas-stripe", "STRIPE_API_KEY"),
    "STRIPE_WEBHOOK_SECRET": ("aiaas-stripe", "STRIPE_WEBHOOK_SECRET"),
    "STRIPE_SIM_WEBHOOK_SECRET": ("aiaas-stripe", "STRIPE_WEBHOOK_SECRET"),
    # The named admin keys the migrate job keeps on compose volumes: in k8s they live in a Secret.
    "GATEWAY_ROUTER_SERVICE_TOKEN": ("aiaas-service-keys", "gateway"),
    "ORCH_SERVICE_KEY": ("aiaas-service-keys", "orchestrator"),
}
# Optional: the gateway serves without a real provider key (the simulator in dev).
OPTIONAL_SECRETS = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}
# Values that differ by overlay: read from the overlay's generated ConfigMap `aiaas-config`.
CONFIG_ENV = {"STRIPE_API_BASE", "PROVIDER_CREDENTIAL_HOSTS", "GATEWAY_PROVIDER_SIM_URL", "ORCH_TOOLBOX_URL"}
# Compose-only plumbing: key files on volumes (k8s takes the token variables from a Secret instead).
DROPPED_ENV = {"GATEWAY_ROUTER_SERVICE_TOKEN_FILE", "ORCH_SERVICE_KEY_FILE"}
_DEFAULTED = re.compile(r"^\$\{[A-Z0-9_]+:-(.*)\}$")


@dataclass(frozen=True)
class Workload:
    name: str  # the compose service and the k8s Deployment
    base: str  # deploy/k8s/base/<base>/
    consumers: tuple[str, ...] = ()  # durable consumers (topology.CONSUMERS keys): KEDA scales on their lag
    lag_threshold: int = 0  # messages one replica keeps up with
    max_replicas: int = 10
    hpa: bool = False  # CPU/memory HPA (router, realtime)
    public: bool = False  # reachable from outside the cluster
    dev_only: bool = False  # simulators: the dev overlay only
    grace_s: int = 30  # terminationGracePeriodSeconds: drain in-flight work first
    memory_mi: int = 256  # request; the limit is twice this
    cpu_m: int = 100
    slow_start: bool = False  # longer startupProbe budget (model load)


# Public = tenant-facing APIs (aiaas.roles), the control plane (issue 17) and billing-admin (Stripe's webhooks).
WORKLOADS: tuple[Workload, ...] = (
    Workload("gateway", "gateway", public=True, memory_mi=384),
    Workload("usage-writer", "gateway", consumers=("usage-writer",), lag_threshold=1000, grace_s=45),
    Workload("outbox-relay", "gateway", grace_s=45),
    Workload("provider-sim", "provider-sim", dev_only=True),
    Workload("router", "router", hpa=True, public=True, memory_mi=384),
    Workload(
        "router-consumer", "router", consumers=("router-decisions", "router-rewards"), lag_threshold=500, grace_s=45
    ),
    Workload("router-admin", "router"),
    # Sockets get 1012 at once, replies drain for REALTIME_DRAIN_TIMEOUT_S (20 s), slow clients 30 s more.
    Workload("realtime", "realtime", hpa=True, public=True, grace_s=60, max_replicas=20),
    Workload("ingestion", "ingestion", public=True, memory_mi=768, slow_start=True),
    # A document's embedding may take the whole ack wait (120 s): finish it before the kill.
    Workload(
        "ingestion-consumer",
        "ingestion",
        consumers=("ingestion-documents",),
        lag_threshold=8,
        grace_s=130,
        memory_mi=768,
        cpu_m=500,
        slow_start=True,
        max_replicas=8,
    ),
    Workload("analytics", "analytics", public=True),
    Workload("analytics-admin", "analytics"),
    Workload(
        "analytics-consumer",
        "analytics",
        consumers=("analytics-usage", "analytics-billing"),
        lag_threshold=2000,
        grace_s=45,
    ),
    Workload("billing", "billing", public=True),
    Workload("billing-admin", "billing", public=True),
    Workload("billing-meter", "billing", consumers=("billing-meter",), lag_threshold=2000, grace_s=45),
    Workload("billing-stripe-sync", "billing", consumers=("billing-stripe-sync",), lag_threshold=200, grace_s=45),
    Workload("orchestrator", "orchestrator", public=True, memory_mi=384),
    # A run is acked at a terminal or interrupted state (ack wait 60 s, in-progress acks until then).
    Workload(
        "orchestrator-worker",
        "orchestrator",
        consumers=("orchestrator-runs",),
        lag_threshold=16,
        grace_s=70,
        memory_mi=512,
    ),
    Workload("control-plane", "control-plane", public=True),
    # A stand-in for tenants' business systems (aiaas.standin): prod points ORCH_TOOLBOX_URL at the real ones.
    Workload("toolbox", "toolbox", dev_only=True),
    Workload("stripe-sim", "stripe-sim", dev_only=True),
)

# Outbound HTTPS beyond the cluster: model providers, Stripe, tenants' alert webhooks, tenants' business systems.
INTERNET_443 = {"gateway", "billing", "billing-stripe-sync", "billing-meter", "orchestrator-worker"}
# Compose's in-cluster HTTP callers that are not infrastructure: (caller, callee).
INFRA = ("postgres", "nats", "redis")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@dataclass(frozen=True)
class Process:
    """One workload with what compose says about it."""

    spec: Workload
    image: str
    command: tuple[str, ...]
    port: int | None  # the HTTP port (None for workers)
    health_path: str
    metrics_port: int | None
    env: dict[str, str]  # literal values (secret-like ones become references)
    depends_on: tuple[str, ...]
    writable_dirs: tuple[str, ...]

    @property
    def worker(self) -> bool:
        return self.port is None

    @property
    def uses(self) -> set[str]:
        """Infrastructure it talks to: Postgres by its DSNs, NATS and Redis by compose's depends_on."""
        used = {dep for dep in self.depends_on if dep in ("nats", "redis")}
        if any(k in self.env for k in ("DATABASE_URL", "ADMIN_DATABASE_URL")):
            used.add("postgres")
        return used


def image_name(compose_service: dict[str, Any]) -> str:
    args = compose_service["build"]["args"]
    module = args["SERVICE_DIR"].rsplit("/", 1)[-1].replace("_", "-")
    return IMAGE_PREFIX + module


def _value(raw: Any) -> str:
    text = str(raw)
    match = _DEFAULTED.match(text)
    return match.group(1) if match else text


def process(spec: Workload, services: dict[str, Any]) -> Process:
    svc = services[spec.name]
    args = svc["build"]["args"]
    command = tuple(svc.get("command") or ())
    port = None
    if not command:
        port = int(args["PORT"])
        command = ("python", "-m", args["APP_MODULE"], "--host", "0.0.0.0", "--port", str(port))
    elif "--port" in command:
        port = int(command[command.index("--port") + 1])
    env = {k: _value(v) for k, v in (svc.get("environment") or {}).items() if k not in DROPPED_ENV}
    expose = svc.get("expose") or []
    volumes = [v.split(":")[1] for v in svc.get("volumes") or [] if not v.endswith(":ro")]
    return Process(
        spec=spec,
        image=image_name(svc),
        command=command,
        port=port,
        health_path=args.get("HEALTH_PATH", "/health/live"),
        metrics_port=int(expose[0]) if expose else None,
        env=env,
        depends_on=tuple(svc.get("depends_on") or ()),
        writable_dirs=tuple(volumes),
    )


def processes() -> list[Process]:
    services = compose()["services"]
    return [process(spec, services) for spec in WORKLOADS]
