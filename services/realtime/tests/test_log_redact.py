"""Credentials in WebSocket URLs never reach the logs: a request target loses its query, other text its secrets."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from realtime.log_redact import RedactQueryCredentials, redact


def test_a_request_target_loses_its_whole_query() -> None:
    assert redact("/v1/realtime/ws?api%5Fkey=sk-1&x=2") == "/v1/realtime/ws?[redacted]"


def test_secret_parameters_elsewhere_are_rewritten() -> None:
    assert redact("ws://h/v1/realtime/ws?ticket=rtk-aiaas-abc&x=1") == "ws://h/v1/realtime/ws?ticket=[redacted]&x=1"
    assert redact("API_KEY=sk-1 seen") == "API_KEY=[redacted] seen"
    assert redact("nothing secret") == "nothing secret"


def test_the_filter_cleans_message_and_arguments_and_keeps_the_record() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" %s', None, None)
    record.args = ("127.0.0.1:5", "/v1/realtime/ws?api_key=sk-secret", 101)
    assert RedactQueryCredentials().filter(record)
    assert "sk-secret" not in record.getMessage()


# What a secret value may contain: anything but the separators that end it (`&`, whitespace, quotes).
_values = st.text(st.characters(categories=("L", "N", "P", "S"), exclude_characters="&\"'"), min_size=1)


@given(_values, st.sampled_from(["api_key", "ticket", "Api_Key"]))
def test_no_secret_value_survives(secret: str, name: str) -> None:
    assert redact(f"/v1/realtime/ws?{name}={secret}") == "/v1/realtime/ws?[redacted]"
    for prefix in ("ws://h/ws?", "ws://h/ws?a=1&", ""):
        assert redact(f"{prefix}{name}={secret}") == f"{prefix}{name}=[redacted]"
