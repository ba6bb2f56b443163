"""Request bodies and small HTTP helpers for the router tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from aiaas_testing import ServiceProcess

__all__ = [
    "CONSTANT_P",
    "RouterProcess",
    "body",
    "decide",
    "put_policy",
    "MATH_PROMPTS",
    "WRITING_PROMPTS",
    "policy",
]

# What the constant test artifact predicts for every request.
CONSTANT_P = {"cheap": 0.85, "strong": 0.95}

MATH_PROMPTS = [
    f"Solve the equation {a}x + {b} = {a * 7 + b} and show each step."
    for a, b in zip(range(2, 40), range(3, 41), strict=True)
]
WRITING_PROMPTS = [f"Write a short poem about autumn number {n} for my sister." for n in range(40)]


@dataclass
class RouterProcess:
    url: str
    metrics_url: str
    process: ServiceProcess


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def policy(**overrides: Any) -> dict[str, Any]:
    """A tenant policy on the platform's two tiers (cheap 0.0006 $, strong 0.01 $ per 1k tokens)."""
    return {
        "tiers": [
            {"name": "cheap", "alias": "gpt-4o-mini", "price_usd_per_1k": 0.0006},
            {"name": "strong", "alias": "gpt-4o", "price_usd_per_1k": 0.01},
        ],
        "lambda": 0.05,
        "max_cost_usd": None,
        "exploration_cap": 0.0,
        "early_exit_bar": 0.8,
        "pinned_tier": None,
        "canary_share": None,
        **overrides,
    }


async def decide(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], payload: dict[str, Any]
) -> dict[str, Any]:
    async with http.post(f"{url}/v1/router/decide", json=payload, headers=headers) as resp:
        data: dict[str, Any] = await resp.json()
        assert resp.status == 200, data
        return data


async def put_policy(http: aiohttp.ClientSession, url: str, headers: dict[str, str], **overrides: Any) -> None:
    async with http.put(f"{url}/v1/router/policy", json=policy(**overrides), headers=headers) as resp:
        assert resp.status == 200, await resp.text()
