"""Acceptance 2: artifact missing or corrupt, or the deadline forced to 0 -> decisions keep coming from the fallback
table, reason `fallback`, identical for identical input, counted in `router_fallbacks_total`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from aiaas.routing.fallback import fallback_tier
from aiaas.routing.features import extract_features
from aiaas_testing import TenantWithKey, metric_value, scrape_metrics

from .factories import RouterProcess, body, decide, put_policy

PROMPTS = [
    "Write a short poem about the sea.",
    "Solve the equation 3x + 4 = 19.",
    "Please debug this python function: def f(x): return x +",
    "Translate 'good morning' into Spanish.",
]


@pytest.fixture(scope="module")
def routers(start_router: Callable[..., RouterProcess], run_dir: Path) -> dict[str, RouterProcess]:
    corrupt = run_dir / "artifacts" / "corrupt.json"
    corrupt.parent.mkdir(parents=True, exist_ok=True)
    corrupt.write_text('{"format": "aiaas-router-artifact/1", "kind": "constant", "sha256": "00"')
    return {
        "artifact": start_router("missing", ROUTER_ARTIFACT_PATH=str(run_dir / "artifacts" / "deleted.json")),
        "corrupt": start_router("corrupt", ROUTER_ARTIFACT_PATH=str(corrupt)),
        "deadline": start_router("deadline", ROUTER_DECIDE_DEADLINE_MS="0"),
    }


@pytest.mark.parametrize("case", ["artifact", "corrupt", "deadline"])
async def test_fallback_decides_identically_and_is_counted(
    routers: dict[str, RouterProcess],
    case: str,
    make_tenant: Callable[..., Awaitable[TenantWithKey]],
    http: aiohttp.ClientSession,
) -> None:
    router = routers[case]
    cause = "deadline" if case == "deadline" else "artifact"
    tenant = await make_tenant()
    await put_policy(http, router.url, tenant.auth, exploration_cap=0.05)
    before = metric_value(await scrape_metrics(router.metrics_url), "router_fallbacks_total", cause=cause)
    decisions = 0
    for prompt in PROMPTS:
        expected = fallback_tier(extract_features([{"role": "user", "content": prompt}]), ["cheap", "strong"])
        first = await decide(http, router.url, tenant.auth, body(prompt))
        again = await decide(http, router.url, tenant.auth, body(prompt))
        decisions += 2
        assert first["reason"] == again["reason"] == "fallback"
        assert first["tier"] == again["tier"] == expected
        assert first["p_success"] == {} and first["model"] == again["model"]
        assert {k: v for k, v in first.items() if k != "decision_id"} == {
            k: v for k, v in again.items() if k != "decision_id"
        }
    tiers = {(await decide(http, router.url, tenant.auth, body(p)))["tier"] for p in PROMPTS}
    decisions += len(PROMPTS)
    assert tiers == {"cheap", "strong"}  # the table is not one constant tier
    after = metric_value(await scrape_metrics(router.metrics_url), "router_fallbacks_total", cause=cause)
    assert after - before == decisions
    distribution = metric_value(
        await scrape_metrics(router.metrics_url), "router_tier_distribution_total", reason="fallback"
    )
    assert distribution >= decisions
