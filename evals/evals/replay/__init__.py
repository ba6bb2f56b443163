"""Replay of recorded episodes at the orchestrator's own seams; this build supports EXACT only."""
