"""The test-only control API under `/_sim` (faults, latency, counters), and /health."""
