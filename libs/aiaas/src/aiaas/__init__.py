"""Shared building blocks for every platform service (one of each, reused everywhere)."""
