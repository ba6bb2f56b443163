"""Retry with jittered exponential backoff and a per-key circuit breaker."""

from aiaas.resilience.breaker import BreakerConfig, BreakerRegistry, BreakerState
from aiaas.resilience.retry import RetryPolicy, retry_async

__all__ = ["BreakerConfig", "BreakerRegistry", "BreakerState", "RetryPolicy", "retry_async"]
