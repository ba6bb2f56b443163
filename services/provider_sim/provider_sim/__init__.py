"""Provider simulator: OpenAI and Anthropic wire protocols with deterministic replies and faults."""
