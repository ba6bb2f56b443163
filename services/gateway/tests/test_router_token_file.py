"""GATEWAY_ROUTER_SERVICE_TOKEN_FILE: the router credential read from a mounted secret file at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings


def test_the_token_comes_from_the_file_unless_given_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "gateway-key"
    key.write_text("aiaas_admin_secret\n")
    monkeypatch.setenv("GATEWAY_ROUTER_SERVICE_TOKEN_FILE", str(key))
    monkeypatch.delenv("GATEWAY_ROUTER_SERVICE_TOKEN", raising=False)
    assert GatewaySettings().router_service_token == "aiaas_admin_secret"
    monkeypatch.setenv("GATEWAY_ROUTER_SERVICE_TOKEN", "given")
    assert GatewaySettings().router_service_token == "given"


def test_a_named_file_that_cannot_serve_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot be read"):
        GatewaySettings(router_service_token_file=str(tmp_path / "absent"))
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ValidationError, match="is empty"):
        GatewaySettings(router_service_token_file=str(tmp_path / "empty"))
