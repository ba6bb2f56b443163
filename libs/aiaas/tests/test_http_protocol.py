"""aiaas.http_protocol (the router serves with it): head and body leave in one write, in order, over keep-alive."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from aiaas.http_protocol import CoalescingHttpProtocol, HeadWithBody
from aiaas_testing import free_port


class _Recorder:
    """A transport double that keeps what is written."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 1), "peername": ("127.0.0.1", 2)}.get(name, default)


def _wrapped() -> tuple[HeadWithBody, _Recorder]:
    recorder = _Recorder()
    return HeadWithBody(recorder), recorder  # type: ignore[arg-type]


async def test_a_head_and_its_body_are_one_write() -> None:
    transport, recorder = _wrapped()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await asyncio.sleep(0)
    assert len(recorder.writes) == 1  # the held head's flush was cancelled


async def test_a_head_without_a_body_leaves_at_the_next_turn_or_on_close() -> None:
    transport, recorder = _wrapped()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert recorder.writes == []
    await asyncio.sleep(0)
    assert recorder.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    transport.close()
    assert recorder.writes[-1] == b"HTTP/1.1 204 No Content\r\n\r\n" and recorder.closed


async def test_other_writes_pass_through() -> None:
    transport, recorder = _wrapped()
    transport.write(b"5\r\nhello\r\n")
    assert recorder.writes == [b"5\r\nhello\r\n"]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=CoalescingHttpProtocol, log_config=None)
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    for _ in range(200):
        if served.started:
            break
        threading.Event().wait(0.02)
    yield port
    served.should_exit = True
    thread.join(timeout=10)


def _read_reply(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line[15:]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def test_replies_over_one_keep_alive_connection(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        for path in ("/first", "/second"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: router\r\n\r\n".encode())
            reply = _read_reply(sock)
            assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
            assert reply.endswith(b"\r\n\r\n" + path.encode())
