"""Runs: `/v1/orchestrator/runs` (create, list, read, history, events, resume, cancel) and their `orch_runs` rows."""
