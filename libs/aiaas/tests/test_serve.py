"""aiaas.serve: one CLI shape for every service (serve by default, its own commands), one listening socket."""

from __future__ import annotations

import argparse
import socket

import pytest

from aiaas import serve as serve_module
from aiaas.serve import Command, _listen, run_service


def _close_periods(args: argparse.Namespace) -> int:
    return 7 if args.now == "2026-12-01" else 1


CLOSE = Command(
    "close-periods",
    "invoice ended periods",
    _close_periods,
    lambda parser: parser.add_argument("--now", required=True),
)


def test_a_command_runs_instead_of_the_server_and_its_exit_code_is_returned(monkeypatch) -> None:
    monkeypatch.setattr(serve_module, "serve", lambda *a, **k: pytest.fail("served instead of the command"))
    assert (
        run_service(
            "svc", "svc.app:create_app", port=1, commands=[CLOSE], argv=["close-periods", "--now", "2026-12-01"]
        )
        == 7
    )


@pytest.mark.parametrize("argv", [[], ["serve"]])
def test_serve_is_the_default_with_host_port_and_the_service_options(monkeypatch, argv) -> None:
    calls = []
    monkeypatch.setattr(serve_module, "serve", lambda factory, **kw: calls.append((factory, kw)))
    assert (
        run_service(
            "svc",
            "svc.app:create_app",
            port=8099,
            commands=[CLOSE],
            argv=[*argv, "--port", "8100"],
            proxy_headers=False,
        )
        == 0
    )
    assert calls == [
        ("svc.app:create_app", {"host": "127.0.0.1", "port": 8100, "send_buffer": 0, "proxy_headers": False})
    ]


def test_log_level_and_access_log_flags_reach_uvicorn(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(serve_module, "serve", lambda factory, **kw: calls.append(kw))
    run_service("svc", "f:g", port=1, host="0.0.0.0", argv=["--log-level", "debug", "--access-log"])
    assert calls == [{"host": "0.0.0.0", "port": 1, "send_buffer": 0, "log_level": "debug", "access_log": True}]


def test_an_unknown_command_exits_with_usage(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        run_service("svc", "f:g", port=1, commands=[CLOSE], argv=["nope"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_the_listening_socket_carries_the_send_buffer_accepted_sockets_inherit() -> None:
    sock = _listen("127.0.0.1", 0, 64 * 1024)
    try:
        # Linux doubles the requested size for its bookkeeping.
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * 64 * 1024
        assert sock.get_inheritable()
        client = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * 64 * 1024
        accepted.close()
        client.close()
    finally:
        sock.close()
