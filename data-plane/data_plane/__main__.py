"""`python -m data_plane bootstrap|migrate|downgrade|seed|admin-keys`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from data_plane import admin_keys
from data_plane.bootstrap import bootstrap
from data_plane.config import DataPlaneSettings
from data_plane.migrate import downgrade, migrate
from data_plane.seed import seed_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_plane")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bootstrap", help="create database and roles (needs PG_SUPERUSER_URL)")
    sub.add_parser("migrate", help="upgrade the schema to head, then set up the RLS checkpoint tables")
    down = sub.add_parser("downgrade", help="downgrade the schema")
    down.add_argument("revision")
    seed = sub.add_parser("seed", help="seed the demo tenant and print its API key")
    seed.add_argument("--key-file", type=Path, default=Path(".local/demo-api-key"))
    seed.add_argument("--print-json", action="store_true")
    admin_keys.add_parser(sub)
    args = parser.parse_args(argv)

    settings = DataPlaneSettings()
    if args.command == "bootstrap":
        asyncio.run(bootstrap(settings))
    elif args.command == "migrate":
        migrate(settings)
    elif args.command == "downgrade":
        downgrade(settings, args.revision)
    elif args.command == "admin-keys":
        return asyncio.run(admin_keys.run(settings, args))
    elif args.command == "seed":
        result = asyncio.run(seed_demo(settings, args.key_file))
        if args.print_json:
            print(json.dumps(result))
        else:
            print(f"tenant {result['tenant_id']}\napi key {result['api_key']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
