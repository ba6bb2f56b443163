"""`python -m control_plane flags ...` against the real service, as an operator would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from .factories import ADMIN, flag_key


def _cli(url: str, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    key = key if key is not None else ADMIN["Authorization"].split()[1]
    env = {**os.environ, "CONTROL_PLANE_URL": url, "CONTROL_PLANE_ADMIN_KEY": key}
    return subprocess.run(
        [sys.executable, "-m", "control_plane", "flags", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_cli_round_trip(cp_url, make_tenant, admin_key) -> None:
    tenant = await make_tenant()
    key = flag_key("cli")
    done = _cli(cp_url, "create", key, "--type", "boolean", "--default", "true", "--description", "from the cli")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["default"] is True

    done = _cli(cp_url, "set", key, "false", "--tenant", str(tenant.id), "--reason", "incident 42")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tenants"] == {str(tenant.id): False}
    done = _cli(cp_url, "set", key, "false", "--plan", "free", "--reason", "free plan off")
    assert done.returncode == 0 and json.loads(done.stdout)["plans"] == {"free": False}

    got = json.loads(_cli(cp_url, "get", key).stdout)
    assert (got["default"], got["tenants"], got["plans"]) == (True, {str(tenant.id): False}, {"free": False})
    listed = json.loads(_cli(cp_url, "list").stdout)
    assert key in {f["key"] for f in listed["data"]}

    assert _cli(cp_url, "unset", key, "--tenant", str(tenant.id), "--reason", "resolved").returncode == 0
    audit = json.loads(_cli(cp_url, "audit", "--flag", key).stdout)["data"]
    # The actor is the admin key's name: the CLI has no way to claim another one.
    assert [(r["action"], r["actor"], r["reason"]) for r in audit] == [
        ("unset", admin_key.name, "resolved"),
        ("set", admin_key.name, "free plan off"),
        ("set", admin_key.name, "incident 42"),
        ("create", admin_key.name, "created with the control-plane CLI"),
    ]
    assert _cli(cp_url, "delete", key, "--reason", "cleanup").returncode == 0


async def test_cli_errors_are_clear_and_non_zero(cp_url) -> None:
    done = _cli(cp_url, "set", "streaming_enabled", "maybe", "--tenant", str(uuid.uuid4()), "--reason", "r")
    assert done.returncode == 1
    assert "400 invalid_value" in done.stderr and "boolean" in done.stderr
    done = _cli(cp_url, "get", flag_key())
    assert done.returncode == 1 and "404 flag_not_found" in done.stderr
    done = _cli(cp_url, "list", key="wrong")
    assert done.returncode == 1 and "401 invalid_admin_key" in done.stderr
    done = _cli(cp_url, "list", key="")
    assert done.returncode == 1 and "CONTROL_PLANE_ADMIN_KEY" in done.stderr
    done = _cli("http://127.0.0.1:1", "list")
    assert done.returncode == 3 and "cannot reach" in done.stderr
    done = _cli(cp_url, "set", "streaming_enabled", "false", "--tenant", "nope", "--reason", "r")
    assert done.returncode == 2 and "not a tenant UUID" in done.stderr  # argparse usage error
