"""Connection tickets: single-use WebSocket credentials issued for an API key."""
