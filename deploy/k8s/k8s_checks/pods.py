"""Rules about what runs: probes, resources, hardening, secrets by reference only, images this repo builds, and
the network baseline (a default-deny policy, policyTypes only Ingress/Egress)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import yaml

from .core import ROOT, Doc, Finding, Render, ident, pod_spec

SECRET_NAME = re.compile(r"(^|_)(PASSWORD|PASSWD|TOKEN|SECRET|DSN|KEY|API_KEY)$|DATABASE_URL$|_URL_WITH_AUTH$", re.I)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
AIAAS = "aiaas/"


@cache
def compose_images() -> tuple[dict[str, str], frozenset[str]]:
    """aiaas image -> its health path (built by a Dockerfile here), and the third-party images compose runs."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    built: dict[str, str] = {}
    third_party = set()
    for svc in services.values():
        build = svc.get("build")
        if build:
            dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
            if dockerfile.is_file():
                name = AIAAS + build["args"]["SERVICE_DIR"].rsplit("/", 1)[-1].replace("_", "-")
                built[name] = build["args"].get("HEALTH_PATH", "/health/live")
        elif svc.get("image"):
            third_party.add(svc["image"])
    return built, frozenset(third_party)


def aiaas_name(repo: str) -> str | None:
    """`aiaas/<name>` for an image of ours, with or without a registry in front."""
    parts = repo.split("/")
    return AIAAS + parts[-1] if len(parts) >= 2 and parts[-2] == "aiaas" else None


def _repo_and_tag(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image.split("@", 1)[0], "digest"
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return image.rsplit(":", 1)[0], image.rsplit(":", 1)[1]
    return image, None


def images(render: Render, prod: bool) -> list[Finding]:
    built, third_party = compose_images()
    out = []
    for doc in render.docs:
        for c in (pod_spec(doc) or {}).get("containers") or []:
            where, image = f"{render.label} {ident(doc)}", c.get("image", "")
            repo, tag = _repo_and_tag(image)
            if image in third_party:
                continue
            if aiaas_name(repo) not in built:
                out.append(Finding("image-not-built", where, f"image {image!r} is built by no Dockerfile here"))
            if tag in (None, "latest") or (prod and tag == "dev"):
                out.append(Finding("image-unpinned", where, f"image {image!r} has no pinned tag or digest"))
    return out


def _probe_path(probe: Doc | None) -> str | None:
    return ((probe or {}).get("httpGet") or {}).get("path")


def probes(render: Render) -> list[Finding]:
    built, _ = compose_images()
    out = []
    for doc in render.of_kind("Deployment", "StatefulSet"):
        for c in (pod_spec(doc) or {}).get("containers") or []:
            where = f"{render.label} {ident(doc)}"
            for probe in ("livenessProbe", "readinessProbe"):
                if not c.get(probe):
                    out.append(Finding("probes", where, f"container {c.get('name')!r} has no {probe}"))
            repo, _tag = _repo_and_tag(c.get("image", ""))
            health = built.get(aiaas_name(repo) or "")
            if health is None:
                continue
            expected = ("/health/live", "/health/ready") if health == "/health/live" else (health, health)
            for probe, path in zip(("livenessProbe", "readinessProbe"), expected, strict=True):
                if c.get(probe) and _probe_path(c[probe]) != path:
                    out.append(Finding("probes", where, f"{probe} path {_probe_path(c[probe])!r}, expected {path!r}"))
    return out


def resources(render: Render) -> list[Finding]:
    out = []
    for doc in render.docs:
        for c in (pod_spec(doc) or {}).get("containers") or []:
            res = c.get("resources") or {}
            missing = [f"requests.{k}" for k in ("cpu", "memory") if k not in (res.get("requests") or {})]
            missing += ["limits.memory"] if "memory" not in (res.get("limits") or {}) else []
            if missing:
                out.append(Finding("resources", f"{render.label} {ident(doc)}", f"missing {', '.join(missing)}"))
    return out


def security(render: Render) -> list[Finding]:
    out = []
    for doc in render.docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        where, pod = f"{render.label} {ident(doc)}", spec.get("securityContext") or {}
        if spec.get("automountServiceAccountToken") is not False:
            out.append(Finding("security", where, "automountServiceAccountToken must be false"))
        for c in spec.get("containers") or []:
            sc: dict[str, Any] = {**pod, **(c.get("securityContext") or {})}
            user = sc.get("runAsUser")
            checks = {
                "runAsNonRoot true": sc.get("runAsNonRoot") is True,
                "a numeric non-root runAsUser": isinstance(user, int) and user > 0,
                "readOnlyRootFilesystem true": sc.get("readOnlyRootFilesystem") is True,
                "allowPrivilegeEscalation false": sc.get("allowPrivilegeEscalation") is False,
                "capabilities.drop [ALL]": "ALL" in ((sc.get("capabilities") or {}).get("drop") or []),
                "seccompProfile RuntimeDefault": (sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
            }
            for what, ok in checks.items():
                if not ok:
                    out.append(Finding("security", where, f"container {c.get('name')!r} needs {what}"))
    return out


def secrets(render: Render) -> list[Finding]:
    out = []
    for doc in render.of_kind("Secret"):
        if doc.get("data") or doc.get("stringData"):
            out.append(Finding("literal-secret", f"{render.label} {ident(doc)}", "a Secret with data in the repo"))
    for doc in render.of_kind("ConfigMap"):
        for key, value in (doc.get("data") or {}).items():
            if SECRET_NAME.search(key) or URL_WITH_PASSWORD.search(str(value)):
                out.append(Finding("literal-secret", f"{render.label} {ident(doc)}", f"secret-like key {key!r}"))
    for doc in render.docs:
        for c in (pod_spec(doc) or {}).get("containers") or []:
            for env in c.get("env") or []:
                if "value" not in env:
                    continue
                if SECRET_NAME.search(env["name"]) or URL_WITH_PASSWORD.search(str(env["value"])):
                    out.append(
                        Finding("literal-secret", f"{render.label} {ident(doc)}", f"literal value for {env['name']}")
                    )
    return out


def network(render: Render) -> list[Finding]:
    out = []
    default_deny = False
    for np in render.of_kind("NetworkPolicy"):
        spec = np.get("spec") or {}
        types = spec.get("policyTypes") or []
        for kind in types:
            if kind not in ("Ingress", "Egress"):
                out.append(Finding("network-policy", f"{render.label} {ident(np)}", f"policyTypes entry {kind!r}"))
        if spec.get("podSelector") == {} and set(types) == {"Ingress", "Egress"}:
            default_deny |= not spec.get("ingress") and not spec.get("egress")
    if not default_deny:
        out.append(Finding("network-policy", render.label, "no default-deny NetworkPolicy (ingress and egress)"))
    return out


def check(render: Render, prod: bool) -> list[Finding]:
    return (
        images(render, prod) + probes(render) + resources(render) + security(render) + secrets(render) + network(render)
    )
