"""What every check shares: findings, the pinned tools' paths, and the render of an overlay."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
TOOLS = ROOT / ".local" / "tools"


def schemas_dir() -> Path:
    """The shared JSON schemas, read in place, never copied in: `$AIAAS_K8S_SCHEMAS`, else `../shared/k8s-schemas`
    beside the checkout, else the workplace's `/work/shared/k8s-schemas` (a CI clone elsewhere, e.g. under /tmp)."""
    configured = os.environ.get("AIAAS_K8S_SCHEMAS")
    if configured:
        return Path(configured)
    beside = ROOT.parent / "shared" / "k8s-schemas"
    for candidate in (beside, Path("/work/shared/k8s-schemas")):
        if candidate.is_dir():
            return candidate
    return beside


SCHEMAS = schemas_dir()
KUBERNETES_VERSION = "1.33.0"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


class ToolMissing(RuntimeError):
    """A pinned tool is not installed: `python deploy/k8s/tools.py` installs it."""


def tool(group: str, name: str) -> Path:
    path = TOOLS / group / "bin" / name
    if not path.exists():
        raise ToolMissing(f"{path.relative_to(ROOT)} missing: run `python deploy/k8s/tools.py`")
    return path


def run(cmd: list[str | Path], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False)


@dataclass
class Render:
    """One overlay's `kubectl kustomize` output, parsed."""

    overlay: Path
    docs: list[Doc]
    text: str

    @property
    def label(self) -> str:
        try:
            return str(self.overlay.relative_to(ROOT))
        except ValueError:
            return str(self.overlay)

    def of_kind(self, *kinds: str) -> Iterator[Doc]:
        return (d for d in self.docs if d.get("kind") in kinds)

    def names(self, kind: str) -> set[str]:
        return {d["metadata"]["name"] for d in self.of_kind(kind)}


def render(overlay: Path) -> Render | Finding:
    done = run([tool("k8s", "kubectl"), "kustomize", overlay])
    if done.returncode != 0:
        return Finding("kustomize", str(overlay), done.stderr.strip() or "kubectl kustomize failed")
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return Render(overlay, docs, done.stdout)


def ident(doc: Doc) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('name')}"


def pod_spec(doc: Doc) -> Doc | None:
    """The pod template's spec of a workload kind (None for other kinds)."""
    spec = doc.get("spec") or {}
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    if doc.get("kind") == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    return None
