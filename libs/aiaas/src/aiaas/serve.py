"""How every HTTP service runs: `run_service` is a service's whole `__main__`, `serve` the uvicorn call.

    python -m <service> [serve] [--host H] [--port P] [--log-level L] [--access-log]
    python -m <service> <command> ...        the service's own commands (`Command`)

uvloop + httptools, no access log (requests are logged by the app's own JSON logging) unless asked, 30 s
for in-flight requests on shutdown; a service passes its own uvicorn options on top (WebSocket settings,
no Server header...). `send_buffer` binds the listening socket here with that SO_SNDBUF, which accepted
sockets inherit (a fixed size disables the kernel's autotuning).
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = ["Command", "run_service", "serve"]


@dataclass(frozen=True)
class Command:
    """A subcommand of a service's CLI besides `serve`: its arguments and what it runs (the exit code)."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None


def run_service(
    prog: str,
    factory: str,
    *,
    port: int,
    host: str = "127.0.0.1",
    commands: Sequence[Command] = (),
    argv: Sequence[str] | None = None,
    send_buffer: int = 0,
    **options: Any,
) -> int:
    """Parse `argv` and serve the app `factory` ("package.module:create_app") builds, or run a command.

    `options` go to uvicorn (see `serve`). Returns the process exit code.
    """
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="run the HTTP API (the default)")
    for target in (parser, serve_cmd):
        target.add_argument("--host", default=host)
        target.add_argument("--port", type=int, default=port)
        target.add_argument("--log-level", default=None, help="uvicorn's own log level (the app's: LOG_LEVEL)")
        target.add_argument("--access-log", action="store_true", default=None, help="log every request")
    for command in commands:
        command.arguments(sub.add_parser(command.name, help=command.help))
    args = parser.parse_args(argv)
    for command in commands:
        if args.command == command.name:
            return command.run(args)
    if args.log_level is not None:
        options["log_level"] = args.log_level
    if args.access_log:
        options["access_log"] = True
    serve(factory, host=args.host, port=args.port, send_buffer=send_buffer, **options)
    return 0


def serve(factory: str, *, host: str, port: int, send_buffer: int = 0, **options: Any) -> None:
    """Run the app that `factory` ("package.module:create_app") builds, the way every service runs."""
    config = uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=port,
        **{
            "loop": "uvloop",
            "http": "httptools",
            "access_log": False,
            "log_config": None,
            "timeout_graceful_shutdown": 30,
            **options,
        },
    )
    server = uvicorn.Server(config)
    if send_buffer:
        server.run(sockets=[_listen(host, port, send_buffer)])
    else:
        server.run()


def _listen(host: str, port: int, send_buffer: int) -> socket.socket:
    """The listening socket; accepted sockets inherit its send buffer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
