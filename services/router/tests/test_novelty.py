"""Novelty in the decision: a request farther from the training data than ROUTER_NOVELTY_BAR does not early-exit,
and the classifier's prior weighs less in the bandit's posterior (observations move it faster).

Real router processes on a copy of the committed linear artifact (its centroids give novelty); the request's
embedding is sent as the gateway would, so the test picks it: an in-distribution question's own embedding, or a
direction far from every training centroid. The same request is decided by a router with the default bar and one
with novelty off: same classifier p, only the novelty rule differs.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from aiaas_testing import TenantWithKey, wait_for
from router.config import RouterSettings
from router.model import DEFAULT_ARTIFACT, RouterModel, load_artifact

from .factories import RouterProcess, body, decide, put_policy

IN_DISTRIBUTION = "Solve the equation 3x + 4 = 25 and show each step."
# Other messages (each its own request hash: a stronger decision on the same messages would be a retry).
ROUND_ONE = "Solve the equation 4x + 3 = 31 and show each step."
ROUND_TWO = "Solve the equation 5x + 2 = 47 and show each step."


@pytest.fixture(scope="module")
def linear_artifact(run_dir: Path) -> Path:
    """A copy of the committed artifact (sealed: a torn copy would not load)."""
    path = run_dir / "artifacts" / "novelty-linear.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEFAULT_ARTIFACT, path)
    return path


def _far_direction(model: RouterModel) -> list[float]:
    """The unit axis farthest from every training centroid (highest novelty)."""
    dim = model.embedding_dim
    assert dim is not None
    axes = np.eye(dim, dtype=np.float32)
    best = max(range(dim), key=lambda i: model.novelty(axes[i]))
    return [float(x) for x in axes[best]]


async def _bandit(http: aiohttp.ClientSession, url: str, tenant: TenantWithKey) -> dict[tuple[str, str], float]:
    async with http.get(f"{url}/v1/router/bandit", headers=tenant.auth) as resp:
        assert resp.status == 200
        return {(r["context_key"], r["tier"]): r["failures"] for r in (await resp.json())["data"]}


async def test_a_novel_request_does_not_early_exit_and_learns_faster(
    start_router: Callable[..., RouterProcess],
    consumer: str,
    linear_artifact: Path,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    http: aiohttp.ClientSession,
) -> None:
    from aiaas_embedder import default_embedder

    model = load_artifact(linear_artifact)
    bar = RouterSettings.model_fields["novelty_bar"].default
    near = [float(x) for x in default_embedder().encode([IN_DISTRIBUTION])[0]]
    far = _far_direction(model)
    assert model.novelty(near) < bar < model.novelty(far)

    novelty_on = start_router("novelty", ROUTER_ARTIFACT_PATH=str(linear_artifact))
    novelty_off = start_router("novelty-off", ROUTER_ARTIFACT_PATH=str(linear_artifact), ROUTER_NOVELTY_BAR="3")
    tenant = await make_tenant()
    # Every p clears a bar of 0: only novelty can stop an early exit.
    await put_policy(http, novelty_on.url, tenant.auth, early_exit_bar=0.0, exploration_cap=0.0)

    known = await decide(http, novelty_on.url, tenant.auth, body(IN_DISTRIBUTION, embedding=near))
    assert (known["tier"], known["reason"]) == ("cheap", "early_exit")

    async def both(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
        # The novel router first: a later cheaper decision on the same messages is no retry of it.
        on = await decide(http, novelty_on.url, tenant.auth, body(text, embedding=far))
        off = await decide(http, novelty_off.url, tenant.auth, body(text, embedding=far))
        return on, off

    novel, plain = await both(ROUND_ONE)
    assert novel["p_success"] == plain["p_success"]  # the same classifier p, no observations yet
    assert (plain["tier"], plain["reason"]) == ("cheap", "early_exit")
    assert novel["reason"] != "early_exit"
    assert novel["reason"] == "classifier"  # the minimum of cost + lambda * error, as the classifier scores it

    # One failure on the cheap tier of this context: the novel request's posterior moves about twice as far.
    payload = {"decision_id": plain["decision_id"], "outcome": "failure", "signal_id": "app-1"}
    async with http.post(f"{novelty_off.url}/v1/feedback", json=payload, headers=tenant.auth) as resp:
        assert resp.status == 200, await resp.text()

    async def counted() -> bool:
        return 1 in (await _bandit(http, novelty_off.url, tenant)).values()

    await wait_for(counted, timeout_s=30)
    novel2, plain2 = await both(ROUND_TWO)
    # Beta means after one failure: p * s / (s + 1), s = 10 (ROUTER_PRIOR_STRENGTH) or 5 for a novel request.
    ratio = novel2["p_success"]["cheap"] / plain2["p_success"]["cheap"]
    assert ratio == pytest.approx((5 / 6) / (10 / 11), rel=1e-4)
    assert novel2["p_success"]["strong"] == plain2["p_success"]["strong"]
