"""Provider adapters behind one interface: OpenAI-format pass-through and Anthropic (official SDK)."""
