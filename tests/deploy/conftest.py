"""The deploy tests import deploy/k8s's modules (validator, generator) and need its pinned tools installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
if str(K8S) not in sys.path:
    sys.path.insert(0, str(K8S))

from k8s_checks.core import Render, ToolMissing, render, tool  # noqa: E402


@pytest.fixture(scope="session")
def k8s_tools() -> None:
    """Fails (never skips) when the pinned tools are missing: `make k8s-validate` installs them first."""
    try:
        for group, name in (("k8s", "kubectl"), ("k8s", "kubernetes-validate"), ("k8s", "hadolint")):
            tool(group, name)
    except ToolMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def renders(k8s_tools: None) -> dict[str, Render]:
    out = {}
    for overlay in ("dev", "prod"):
        rendered = render(K8S / "overlays" / overlay)
        assert isinstance(rendered, Render), rendered
        out[overlay] = rendered
    return out
