"""The test-only control API under `/_sim`, and /health."""
