"""Anthropic's wire protocol: `/v1/messages`."""
