"""Schema checks of a render: built-in kinds by `kubernetes-validate --strict`, custom resources by the strict JSON
schemas in ../shared/k8s-schemas (read in place), anything else an unknown kind."""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .core import KUBERNETES_VERSION, SCHEMAS, Doc, Finding, Render, ident, run, tool

# Custom resources the platform uses -> their schema file under ../shared/k8s-schemas.
CUSTOM = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh/scaledobject_v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh/triggerauthentication_v1alpha1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com/prometheusrule_v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com/servicemonitor_v1.json",
}
# Built-in kinds (core and named groups) kubernetes-validate knows for the pinned version.
BUILTIN_GROUPS = {
    "v1",
    "apps/v1",
    "batch/v1",
    "policy/v1",
    "autoscaling/v2",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
}


@cache
def _validator(relative: str) -> Any:
    return jsonschema.Draft7Validator(json.loads((SCHEMAS / relative).read_text()))


def check_custom(doc: Doc, where: str) -> list[Finding]:
    relative = CUSTOM[(doc["apiVersion"], doc["kind"])]
    if not (SCHEMAS / relative).exists():
        return [Finding("schema", where, f"{SCHEMAS / relative} missing: ../shared/k8s-schemas is read in place")]
    validator = _validator(relative)
    return [
        Finding("schema", f"{where} {ident(doc)}", f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}")
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def check(render: Render) -> list[Finding]:
    findings: list[Finding] = []
    builtin: list[Doc] = []
    for doc in render.docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key in CUSTOM:
            findings += check_custom(doc, render.label)
        elif doc.get("apiVersion") in BUILTIN_GROUPS:
            builtin.append(doc)
        else:
            findings.append(
                Finding("unknown-kind", f"{render.label} {ident(doc)}", f"unknown kind {key[1]} ({key[0]})")
            )
    if builtin:
        findings += _kubernetes_validate(builtin, render.label)
    return findings


def _kubernetes_validate(docs: list[Doc], where: str) -> list[Finding]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "render.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        done = run(
            [tool("k8s", "kubernetes-validate"), "--strict", "--quiet", "--no-warn", "-k", KUBERNETES_VERSION, path]
        )
    findings = []
    for line in done.stdout.splitlines() + done.stderr.splitlines():
        if line.startswith("ERROR"):
            message = line.split(" ", 2)[2] if line.count(" ") >= 2 else line
            findings.append(Finding("schema", where, message))
    if done.returncode != 0 and not findings:
        findings.append(Finding("schema", where, f"kubernetes-validate failed: {done.stderr.strip()[:400]}"))
    return findings
