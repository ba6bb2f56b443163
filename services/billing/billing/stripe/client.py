"""The official Stripe SDK, async, behind one retry policy.

`stripe.StripeClient` (SDK 16) has `*_async` methods; with `stripe.AIOHTTPClient` they
run on the event loop, so no thread pool is needed. The SDK's own retries are off
(`max_network_retries=0`): every call goes through `aiaas.resilience.retry_async`, the
platform's one retry helper, which retries 429, 409, 5xx and connection errors. Every
write carries an explicit Idempotency-Key, so a retried write never creates a second object.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import stripe

from aiaas.resilience import RetryPolicy, retry_async
from billing.stripe.config import StripeSettings

__all__ = ["StripeApi", "is_transient", "open_stripe"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: rate limits, lock conflicts, Stripe's 5xx and network failures."""
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError):
        return True
    if isinstance(exc, stripe.StripeError):
        status = exc.http_status
        return status is not None and (status == 409 or status >= 500)
    return False


class StripeApi:
    """One SDK client with its aiohttp session; `call` runs a request under the retry policy."""

    def __init__(self, settings: StripeSettings) -> None:
        self._http = stripe.AIOHTTPClient(timeout=settings.timeout_s)
        self.client = stripe.StripeClient(
            settings.api_key,
            base_addresses={"api": settings.api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=0,
        )
        self._policy = RetryPolicy(
            max_attempts=settings.retry_attempts,
            base_delay=settings.retry_base_delay_s,
            max_delay=settings.retry_max_delay_s,
        )

    async def call(self, request: Callable[[], Awaitable[T]], what: str) -> T:
        """Run `request` (a fresh SDK call per attempt), retrying transient failures."""

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            log.warning(
                "stripe call failed, retrying",
                extra={"call": what, "attempt": attempt, "delay_s": round(delay, 3), "error": repr(exc)[:300]},
            )

        return await retry_async(request, policy=self._policy, is_retryable=is_transient, on_retry=on_retry)

    async def close(self) -> None:
        await self._http.close_async()


@asynccontextmanager
async def open_stripe(settings: StripeSettings) -> AsyncIterator[StripeApi | None]:
    """A `StripeApi` for the block, or None when `STRIPE_API_KEY` is unset (Stripe features answer 503)."""
    if not settings.api_key:
        yield None
        return
    api = StripeApi(settings)
    try:
        yield api
    finally:
        await api.close()
