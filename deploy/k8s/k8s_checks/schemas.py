"""Schema checks of a render: built-in kinds by `kubernetes-validate --strict`, custom resources by the strict JSON
schemas in ../shared/k8s-schemas (read in place), anything else an unknown kind."""

from __future__ import annotations

import hashlib
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


def check(render: Render) -> tuple[list[Finding], list[Doc]]:
    """Findings of the custom resources and unknown kinds, and the built-in documents for `kubernetes_validate`."""
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
    return findings, builtin


def kubernetes_validate(items: list[tuple[str, Doc]]) -> list[Finding]:
    """One `kubernetes-validate --strict` run for every (where, document): each distinct document once, in a file
    of its own, so an error maps back to every render that holds it (the schemas load once, not per render)."""
    distinct: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    for where, doc in items:
        text = yaml.safe_dump(doc, sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        distinct.setdefault(key, []).append(f"{where} {ident(doc)}")
        texts[key] = text
    if not distinct:
        return []
    findings = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, text in texts.items():
            (Path(tmp) / f"{key}.yaml").write_text(text)
        done = run(
            [
                tool("k8s", "kubernetes-validate"),
                "--strict",
                "--quiet",
                "--no-warn",
                "-k",
                KUBERNETES_VERSION,
                *sorted(Path(tmp).iterdir()),
            ]  # fmt: skip
        )
    for line in done.stdout.splitlines() + done.stderr.splitlines():
        if not line.startswith("ERROR"):
            continue
        _, path, message = line.split(" ", 2)
        for where in distinct.get(Path(path).stem, ["?"]):
            findings.append(Finding("schema", where, message))
    if done.returncode != 0 and not findings:
        findings.append(Finding("schema", "kubernetes-validate", f"failed: {done.stderr.strip()[:400]}"))
    return findings
