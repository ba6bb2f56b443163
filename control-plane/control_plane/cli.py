"""`python -m control_plane flags ...`: the flag admin API from a shell.

Reads CONTROL_PLANE_URL (default http://127.0.0.1:8084) and CONTROL_PLANE_ADMIN_KEY, your named
platform-admin key (`python -m data_plane admin-keys create NAME`); the audit records that key's
name as the actor of every change. Prints JSON on success; on an API error prints
`error: <status> <code>: <message>` and exits 1 (3 when the API cannot be reached).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from control_plane.config import CliSettings

__all__ = ["add_flags_arguments", "run_flags_command", "parse_value", "ApiError"]

_EXIT_API_ERROR = 1
_EXIT_UNREACHABLE = 3


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def parse_value(raw: str) -> Any:
    """A value as typed on the command line: JSON when it parses (false, 50, ["a","b"]), else the text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _variants(raw: str) -> list[Any]:
    """`a,b` or weighted `a:90,b:10`."""
    variants: list[Any] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, weight = part.partition(":")
        variants.append({"value": name, "weight": int(weight)} if sep else name)
    return variants


def _tenant(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a tenant UUID: {raw!r}") from None


def add_flags_arguments(flags: argparse.ArgumentParser) -> None:
    """The subcommands of `flags` (list, get, create, set, unset, delete, audit) on its parser."""
    cmds = flags.add_subparsers(dest="flags_command", required=True)
    cmds.add_parser("list", help="every flag")
    get = cmds.add_parser("get", help="one flag with its overrides")
    get.add_argument("key")
    create = cmds.add_parser("create", help="create a flag")
    create.add_argument("key")
    create.add_argument("--type", required=True, choices=["boolean", "percentage", "variant", "integer", "string_list"])
    create.add_argument("--default", required=True, type=parse_value, help="JSON value, e.g. true, 25, '[\"a\"]'")
    create.add_argument("--description", default="")
    create.add_argument("--variants", type=_variants, help="variant flags: a,b or a:90,b:10")
    create.add_argument("--min", type=int, dest="min_value")
    create.add_argument("--max", type=int, dest="max_value")
    create.add_argument("--reason", default="created with the control-plane CLI")
    set_ = cmds.add_parser("set", help="set the default, or an override with --tenant/--plan")
    set_.add_argument("key")
    set_.add_argument("value", type=parse_value)
    unset = cmds.add_parser("unset", help="remove a tenant or plan override")
    unset.add_argument("key")
    for cmd in (set_, unset):
        target = cmd.add_mutually_exclusive_group(required=cmd is unset)
        target.add_argument("--tenant", type=_tenant)
        target.add_argument("--plan")
        cmd.add_argument("--reason", required=True)
    delete = cmds.add_parser("delete", help="delete a flag and its overrides")
    delete.add_argument("key")
    delete.add_argument("--reason", required=True)
    audit = cmds.add_parser("audit", help="the audit log, newest first")
    audit.add_argument("--flag")
    audit.add_argument("--tenant", type=_tenant)
    audit.add_argument("--limit", type=int, default=50)


def _request(settings: CliSettings, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {settings.admin_key}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(settings.url.rstrip("/") + path, data=data, method=method, headers=headers)  # noqa: S310 - operator-given URL
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_s) as resp:  # noqa: S310  # nosec B310
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            error = json.loads(raw)["error"]
            raise ApiError(exc.code, str(error.get("code")), str(error.get("message"))) from None
        except (ValueError, KeyError, TypeError):
            raise ApiError(exc.code, "http_error", raw.decode(errors="replace")[:300] or exc.reason) from None


def _path(key: str) -> str:
    return "/admin/flags/" + urllib.parse.quote(key, safe="")


def _call(settings: CliSettings, args: argparse.Namespace) -> Any:
    cmd = args.flags_command
    if cmd == "list":
        return _request(settings, "GET", "/admin/flags")
    if cmd == "get":
        return _request(settings, "GET", _path(args.key))
    if cmd == "create":
        body = {
            "key": args.key,
            "type": args.type,
            "default": args.default,
            "description": args.description,
            "reason": args.reason,
        }
        for name in ("variants", "min_value", "max_value"):
            if getattr(args, name) is not None:
                body[name] = getattr(args, name)
        return _request(settings, "POST", "/admin/flags", body)
    if cmd in ("set", "unset"):
        if args.tenant:
            path = f"{_path(args.key)}/tenants/{args.tenant}"
        elif args.plan:
            path = f"{_path(args.key)}/plans/{urllib.parse.quote(args.plan, safe='')}"
        else:  # `set` without a target changes the default
            return _request(settings, "PATCH", _path(args.key), {"default": args.value, "reason": args.reason})
        if cmd == "set":
            return _request(settings, "PUT", path, {"value": args.value, "reason": args.reason})
        return _request(settings, "DELETE", path, {"reason": args.reason})
    if cmd == "delete":
        return _request(settings, "DELETE", _path(args.key), {"reason": args.reason})
    query = {k: v for k, v in (("flag", args.flag), ("tenant_id", args.tenant), ("limit", args.limit)) if v}
    return _request(settings, "GET", "/admin/flags/audit?" + urllib.parse.urlencode(query))


def run_flags_command(args: argparse.Namespace) -> int:
    settings = CliSettings()
    if not settings.admin_key:
        print(
            "error: set CONTROL_PLANE_ADMIN_KEY to your platform-admin key "
            "(`python -m data_plane admin-keys create NAME` makes one)",
            file=sys.stderr,
        )
        return _EXIT_API_ERROR
    try:
        result = _call(settings, args)
    except ApiError as exc:
        print(f"error: {exc.status} {exc.code}: {exc.message}", file=sys.stderr)
        return _EXIT_API_ERROR
    except (urllib.error.URLError, OSError) as exc:
        print(f"error: cannot reach the control plane at {settings.url} ({exc})", file=sys.stderr)
        return _EXIT_UNREACHABLE
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
