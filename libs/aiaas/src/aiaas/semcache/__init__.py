"""Semantic cache decisions shared by the gateway and the offline evaluation (`evals/cache`)."""

from aiaas.semcache.verifier import DEFAULT_THRESHOLD, FALLBACK_THRESHOLD, choose, default_threshold, verify

__all__ = ["DEFAULT_THRESHOLD", "FALLBACK_THRESHOLD", "choose", "default_threshold", "verify"]
