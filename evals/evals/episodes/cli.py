"""`python -m evals episodes export [--tenant T] [--run-id ID ...] [--out FILE]`: canonical episode JSON lines.

With `--tenant`, the export reads as that tenant (app_runtime, `DATABASE_URL`, RLS): only its own runs exist, and
another tenant's run id is "not found". Without it, every tenant's exportable runs are read as platform_admin
(`ADMIN_DATABASE_URL`). Exit 0 written, 2 bad input (an unknown or foreign run id, a malformed id, no database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from aiaas.db import create_engine, session_factory
from evals.episodes.canonical import dumps_line
from evals.episodes.export import EpisodeNotFound, export_episodes, write_jsonl

__all__ = ["main"]


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals episodes", description="Episode records of runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write runs' episodes as canonical JSON lines")
    export.add_argument("--tenant", type=uuid.UUID, help="read as this tenant (RLS); default: all, as platform_admin")
    export.add_argument("--run-id", dest="run_ids", type=uuid.UUID, action="append", default=[], help="repeatable")
    export.add_argument("--out", type=Path, help="a JSONL file (default: standard output)")
    return parser


async def _export(args: argparse.Namespace) -> int:
    env = "DATABASE_URL" if args.tenant is not None else "ADMIN_DATABASE_URL"
    url = os.environ.get(env)
    if not url:
        raise _UsageError(f"{env} is not set (the export reads {'as the tenant' if args.tenant else 'all tenants'})")
    engine = create_engine(url, pool_size=1, application_name="evals-episodes")
    try:
        episodes = await export_episodes(session_factory(engine), tenant_id=args.tenant, run_ids=args.run_ids)
    finally:
        await engine.dispose()
    if args.out is None:
        sys.stdout.buffer.write(b"".join(dumps_line(episode) + b"\n" for episode in episodes))
    else:
        write_jsonl(episodes, args.out)
        print(f"exported {len(episodes)} episodes to {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed why
        return 0 if exc.code == 0 else 2
    try:
        return asyncio.run(_export(args))
    except EpisodeNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (_UsageError, OSError, SQLAlchemyError) as exc:
        print(f"error: {str(exc)[:500]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
