"""gateway/routing/connections.py against a real socket server: one connection reused across requests, an idle
keep-alive the server ended replaced without an error, `Connection: close` and chunked replies, broken replies
raised (never parsed as a decision)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gateway.routing.connections import DecideConnections

Reply = Callable[[bytes], bytes]
Serve = Callable[["Server"], Awaitable[str]]


class Server:
    """Reads one request at a time per connection, answers with `reply(body)`; counts connections and requests."""

    def __init__(self, reply: Reply, close_after: int | None = None) -> None:
        self.reply = reply
        self.close_after = close_after  # requests per connection before the server ends it
        self.connections = 0
        self.bodies: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.bodies.append(body)
                writer.write(self.reply(body))
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def fixed(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(server: Server) -> str:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        servers.append(listening)
        port = listening.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/router/decide"

    yield start
    for listening in servers:
        listening.close()


async def test_one_connection_serves_request_after_request(serve: Serve) -> None:
    server = Server(lambda body: fixed(b'{"echo": ' + body + b"}"))
    connections = DecideConnections(await serve(server))
    for n in range(5):
        reply = await connections.post(b"%d" % n, {"Authorization": "Bearer k"})
        assert (reply.status, reply.body) == (200, b'{"echo": %d}' % n)
    assert server.connections == 1
    assert server.bodies == [b"0", b"1", b"2", b"3", b"4"]
    connections.close()


async def test_an_idle_keep_alive_the_server_ended_is_replaced_without_an_error(serve: Serve) -> None:
    server = Server(lambda body: fixed(b"{}"), close_after=1)
    connections = DecideConnections(await serve(server))
    for _ in range(3):
        assert (await connections.post(b"x", {})).status == 200
        await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
    assert server.connections == 3
    assert server.bodies == [b"x"] * 3  # each request sent once
    connections.close()


async def test_a_reused_connection_closed_under_the_request_is_retried_once(serve: Serve) -> None:
    server = Server(lambda body: fixed(b"{}"))
    connections = DecideConnections(await serve(server))
    assert (await connections.post(b"a", {})).status == 200
    # The server ends the connection with no FIN seen yet by the client: the next write goes to a dead socket.
    server.writers[0].transport.abort()
    assert (await connections.post(b"b", {})).status == 200
    assert server.connections == 2
    connections.close()


async def test_connection_close_and_chunked_replies(serve: Serve) -> None:
    chunked = (
        b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n"
        b'4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
    )
    replies = iter([fixed(b"{}", b"connection: close\r\n"), chunked, fixed(b"{}")])
    server = Server(lambda body: next(replies))
    connections = DecideConnections(await serve(server))
    assert (await connections.post(b"1", {})).status == 200
    reply = await connections.post(b"2", {})  # a new connection: the first one was to close
    assert (reply.status, reply.body) == (503, b'{"a": 1}')
    assert (await connections.post(b"3", {})).status == 200  # the chunked reply's connection is reused
    assert server.connections == 2
    connections.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{}",  # no length, not chunked
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}",  # cut short
    ],
)
async def test_a_broken_reply_raises(serve: Serve, raw: bytes) -> None:
    server = Server(lambda body: raw, close_after=1)
    connections = DecideConnections(await serve(server))
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await connections.post(b"x", {})
    connections.close()


async def test_nothing_listening_is_an_os_error() -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    with pytest.raises(OSError):
        await DecideConnections(f"http://127.0.0.1:{port}/v1/router/decide").post(b"x", {})
