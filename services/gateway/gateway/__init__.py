"""The gateway: tenant-facing, OpenAI-compatible chat API."""
