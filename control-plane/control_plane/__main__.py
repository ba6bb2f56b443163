"""`python -m control_plane [serve] --port 8084` runs the API; `python -m control_plane flags ...` is the CLI."""

from __future__ import annotations

import argparse
import sys

from aiaas.service_app import serve
from control_plane.cli import add_flags_commands, run_flags_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m control_plane")
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="run the HTTP API (the default)")
    for target in (parser, serve_cmd):
        target.add_argument("--host", default="127.0.0.1")
        target.add_argument("--port", type=int, default=8084)
    add_flags_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "flags":
        return run_flags_command(args)
    serve("control_plane.app:create_app", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
