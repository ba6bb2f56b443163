"""The static upstream: Debian's nginx answering a fixed OpenAI chat.completion and a fixed SSE stream."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from procs import SERVER_CORE, ProcessSet, wait_http

__all__ = ["CHAT_JSON", "SSE_BODY", "JSON_PATH", "SSE_PATH", "start_nginx"]

JSON_PATH = "/v1/chat/completions"
SSE_PATH = "/sse/v1/chat/completions"

_CREATED = 1_700_000_000
CHAT_JSON = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": _CREATED,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! This is a fixed benchmark reply."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
    },
    separators=(",", ":"),
)


def _chunk(delta: dict, finish: str | None = None) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        },
        separators=(",", ":"),
    )


_USAGE_CHUNK = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": "bench-model",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    },
    separators=(",", ":"),
)

_EVENTS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hello"}),
    _chunk({"content": "! Fixed"}),
    _chunk({"content": " reply."}),
    _chunk({}, finish="stop"),
    _USAGE_CHUNK,
    "[DONE]",
]
SSE_BODY = "".join(f"data: {event}\n\n" for event in _EVENTS)


def _nginx_quote(text: str) -> str:
    """Single-quoted nginx string; nginx understands \\n inside quotes."""
    assert "'" not in text and "$" not in text, "body must not need nginx escaping"
    return "'" + text.replace("\n", "\\n") + "'"


def _config(port: int, prefix: Path) -> str:
    return f"""
worker_processes 1;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /health {{ default_type text/plain; return 200 'ok'; }}
        location = {JSON_PATH} {{ default_type application/json; return 200 {_nginx_quote(CHAT_JSON)}; }}
        location = {SSE_PATH} {{ default_type text/event-stream; return 200 {_nginx_quote(SSE_BODY)}; }}
    }}
}}
"""


def start_nginx(procs: ProcessSet, workdir: Path, port: int, core: int = SERVER_CORE) -> tuple[str, int]:
    """Write nginx.conf into `workdir`, run nginx in the foreground pinned to `core`; base URL and pid."""
    prefix = workdir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(_config(port, prefix))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc, log = procs.start("nginx", [nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], core)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health", timeout_s=15, proc=proc, log=log)
    return base, proc.pid
