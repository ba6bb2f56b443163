"""Realtime WebSocket chat service: `GET /v1/realtime/ws`."""
