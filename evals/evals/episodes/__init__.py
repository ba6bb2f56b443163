"""Episode records of orchestrator runs: canonical form, export under RLS, the replay corpus and its recorder."""
