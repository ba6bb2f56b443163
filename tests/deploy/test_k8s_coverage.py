"""Acceptance 2: every service has a base, and every process in the renders its probes, resources, PDB and scrape
port; every durable consumer declared in aiaas.events.topology a ScaledObject trigger on its own stream and name,
on the process whose code reads it; router and realtime an HPA. Also: a name prefix keeps KEDA's references."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from k8s_checks.core import Render, render
from workloads import WORKLOADS, compose

from aiaas.events.topology import CONSUMERS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def _service_dirs() -> list[Path]:
    dirs = [p.parent for p in (ROOT / "services").glob("*/pyproject.toml")]
    return sorted([*dirs, ROOT / "control-plane"])


def _by_name(rendered: Render, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered.of_kind(kind)}


def test_every_service_has_a_base() -> None:
    for service_dir in _service_dirs():
        base = K8S / "base" / service_dir.name.replace("_", "-")
        assert (base / "kustomization.yaml").is_file(), f"{service_dir.name}: no {base.relative_to(ROOT)}"


def test_every_compose_process_is_a_workload() -> None:
    built = {name for name, svc in compose()["services"].items() if "build" in svc and name != "migrate"}
    assert built == {w.name for w in WORKLOADS}


def test_every_deployment_has_probes_resources_pdb_and_a_scrape_port(renders: dict[str, Render]) -> None:
    dev = renders["dev"]
    pdbs = {d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for d in dev.of_kind("PodDisruptionBudget")}
    services = _by_name(dev, "Service")
    flows = yaml.safe_load((K8S / "flows.yaml").read_text())["flows"]
    scraped = {(f["to"], f["port"]) for f in flows if f["from"] == "prometheus"}
    for spec in WORKLOADS:
        dep = _by_name(dev, "Deployment")[spec.name]
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(container), spec.name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), spec.name
        assert "memory" in container["resources"]["limits"], spec.name
        assert spec.name in pdbs, spec.name
        metrics = [p for p in container["ports"] if p["name"] == "metrics"]
        if spec.dev_only:  # the simulators serve no /metrics
            assert metrics == []
            continue
        assert len(metrics) == 1, spec.name
        port = metrics[0]["containerPort"]
        assert {"name": "metrics", "port": port, "targetPort": "metrics", "protocol": "TCP"} in services[spec.name][
            "spec"
        ]["ports"]
        assert (spec.name, port) in scraped, f"no prometheus flow to {spec.name}:{port}"


def test_every_declared_consumer_has_a_scaled_object_on_its_reader(renders: dict[str, Render]) -> None:
    prod = renders["prod"]
    triggers = {}
    for so in prod.of_kind("ScaledObject"):
        for trig in so["spec"]["triggers"]:
            meta = trig["metadata"]
            triggers[meta["consumer"]] = (meta["stream"], so["spec"]["scaleTargetRef"]["name"])
    assert set(triggers) == set(CONSUMERS)
    args = {name: svc["build"]["args"] for name, svc in compose()["services"].items() if "build" in svc}
    for name, spec in CONSUMERS.items():
        stream, target = triggers[name]
        assert stream == spec.stream, name
        # The target's code names the durable: it is the process that reads this consumer.
        source = ROOT / args[target]["SERVICE_DIR"]
        texts = (p.read_text() for p in source.rglob("*.py") if "tests" not in p.parts)
        assert any(f'"{name}"' in text for text in texts), f"{target} never names consumer {name}"


def test_router_and_realtime_scale_on_an_hpa_and_nothing_has_two(renders: dict[str, Render]) -> None:
    prod = renders["prod"]
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in prod.of_kind("HorizontalPodAutoscaler")}
    assert set(hpas) == {"router", "realtime"}
    for hpa in hpas.values():
        assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    realtime_down = hpas["realtime"]["spec"]["behavior"]["scaleDown"]["policies"]
    realtime_grace = _by_name(prod, "Deployment")["realtime"]["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    assert realtime_down == [{"type": "Pods", "value": 1, "periodSeconds": 120}]
    assert realtime_grace < 120  # one pod's sockets drain before the next is taken
    keda = {so["spec"]["scaleTargetRef"]["name"] for so in prod.of_kind("ScaledObject")}
    assert not keda & set(hpas)


def test_a_name_prefix_keeps_keda_references(tmp_path: Path, k8s_tools: None) -> None:
    overlay = tmp_path / "prefixed"
    overlay.mkdir()
    prod = os.path.relpath(K8S / "overlays" / "prod", overlay)
    (overlay / "kustomization.yaml").write_text(f"namePrefix: team-\nresources: [{prod}]\n")
    rendered = render(overlay)
    assert isinstance(rendered, Render), rendered
    deployments, auths = rendered.names("Deployment"), rendered.names("TriggerAuthentication")
    assert auths == {"team-keda-nats-jetstream"}
    for so in rendered.of_kind("ScaledObject"):
        assert so["spec"]["scaleTargetRef"]["name"] in deployments
        assert so["spec"]["scaleTargetRef"]["name"].startswith("team-")
        assert {t["authenticationRef"]["name"] for t in so["spec"]["triggers"]} == auths
