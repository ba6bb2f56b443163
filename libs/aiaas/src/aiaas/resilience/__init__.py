"""Retry with jittered exponential backoff and a per-key circuit breaker."""

from aiaas.resilience.breaker import BreakerConfig, BreakerOpen, BreakerRegistry, BreakerState
from aiaas.resilience.retry import RetryPolicy, retry_after_hint, retry_async

__all__ = [
    "BreakerConfig",
    "BreakerOpen",
    "BreakerRegistry",
    "BreakerState",
    "RetryPolicy",
    "retry_after_hint",
    "retry_async",
]
