"""`python -m data_plane admin-keys create|list|revoke|ensure`: platform-admin keys, as the database owner.

The owner (MIGRATION_DATABASE_URL) is the only role that may write `admin_keys`; the SQL is in
aiaas.admin_keys, shared with `make dev` and the tests. A key's secret is printed once, at create.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.admin_keys import (
    AdminKeyRow,
    create_admin_key,
    find_admin_key,
    list_admin_keys,
    reissue_admin_key,
    revoke_admin_key,
)
from aiaas.db import admin_session, create_engine, session_factory
from aiaas.errors import PlatformError
from data_plane.config import DataPlaneSettings

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `admin-keys` command and its subcommands."""
    parser = sub.add_parser("admin-keys", help="create, list and revoke named platform-admin keys")
    keys = parser.add_subparsers(dest="admin_command", required=True)
    create = keys.add_parser("create", help="create a key and print its secret (shown only this once)")
    create.add_argument("name", help="unique name; it is the audit actor of everything done with the key")
    create.add_argument("--created-by", default=None, help="who asked for it (default: the OS user)")
    listing = keys.add_parser("list", help="list every key (never a secret)")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    revoke = keys.add_parser("revoke", help="revoke a key (services refuse it within ADMIN_KEY_CACHE_TTL_S)")
    revoke.add_argument("name")
    ensure = keys.add_parser("ensure", help="print the key kept in --key-file if it still works, else issue one")
    ensure.add_argument("name")
    ensure.add_argument("--key-file", type=Path, required=True)
    ensure.add_argument("--created-by", default=None)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (e.g. a container's arbitrary uid)
        return "unknown"


def _row_json(row: AdminKeyRow) -> dict[str, str | None]:
    return {
        "id": str(row.id),
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


async def _ensure(sessions: async_sessionmaker[AsyncSession], name: str, key_file: Path, created_by: str) -> str:
    """The key in `key_file` if it is `name`'s and active; else a new secret for `name`, written there."""
    if key_file.exists():  # noqa: ASYNC240 - a one-shot CLI, not a server
        kept: str = key_file.read_text().strip()  # noqa: ASYNC240 - a one-shot CLI, not a server
        async with admin_session(sessions) as session:
            row = await find_admin_key(session, kept) if kept else None
        if row is not None and row.name == name and row.active:
            return kept
    plaintext: str
    async with admin_session(sessions) as session:
        exists = any(row.name == name for row in await list_admin_keys(session))
        if exists:  # the file was lost or the key revoked: a new secret for the same name
            _, plaintext = await reissue_admin_key(session, name)
        else:
            _, plaintext = await create_admin_key(session, name=name, created_by=created_by)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(plaintext + "\n")  # noqa: ASYNC240 - a one-shot CLI, not a server
    key_file.chmod(0o600)  # noqa: ASYNC240 - a one-shot CLI, not a server
    return plaintext


async def run(settings: DataPlaneSettings, args: argparse.Namespace) -> int:
    """Run the parsed `admin-keys` subcommand; 1 (with the error on stderr) when it is refused."""
    engine = create_engine(settings.migration_database_url, pool_size=1, application_name="admin-keys")
    sessions = session_factory(engine)
    created_by = getattr(args, "created_by", None) or _os_user()
    try:
        if args.admin_command == "create":
            async with admin_session(sessions) as session:
                row, plaintext = await create_admin_key(session, name=args.name, created_by=created_by)
            print(plaintext)
            print(
                f"admin key {row.name!r} created ({row.prefix}...); keep it now, it is not shown again", file=sys.stderr
            )
        elif args.admin_command == "list":
            async with admin_session(sessions) as session:
                rows = await list_admin_keys(session)
            if args.json:
                print(json.dumps([_row_json(row) for row in rows]))
            else:
                for row in rows:
                    state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                    created = f"created {row.created_at:%Y-%m-%d} by {row.created_by}"
                    print(f"{row.name:30} {row.prefix:20} {state:24} {created}")
        elif args.admin_command == "revoke":
            async with admin_session(sessions) as session:
                row = await revoke_admin_key(session, args.name)
            print(f"admin key {row.name!r} revoked at {row.revoked_at.isoformat() if row.revoked_at else '?'}")
        else:
            print(await _ensure(sessions, args.name, args.key_file, created_by))
    except PlatformError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    return 0
