"""The socket: WebSocket admission, framing, send queue, idle and close handling, per-tenant connection limit."""
