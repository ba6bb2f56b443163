"""Local infrastructure: Postgres (+pgvector), NATS JetStream and Redis for development and tests.

    .venv/bin/python deploy/local/infra.py up|down|status|env [postgres|nats|redis ...]

For each component the configured URL (PG_SUPERUSER_URL, NATS_URL, REDIS_URL) is
used when it is set and answers; otherwise a project-local instance runs on a
project-local port (55432, 54222 + monitoring 58222, 56379; AIAAS_*_PORT override)
with its data, pid files and logs under .local/ (AIAAS_LOCAL_DIR overrides).
`up` is idempotent and waits until each component is ready; `down` stops only
what this project started; `env` prints `export` lines for a shell to eval.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from local_infra.config import Component, InfraError, LocalConfig, mask_url
from local_infra.stack import COMPONENT_NAMES, down, env_vars, status, up


def _print_ready(component: Component) -> None:
    pid = f" pid {component.pid}" if component.pid else ""
    print(f"{component.name:9} {component.origin:10} {mask_url(component.url)}{pid}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    parser.add_argument(
        "components", nargs="*", metavar="component", help=f"any of {', '.join(COMPONENT_NAMES)} (default: all)"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.components) - set(COMPONENT_NAMES))
    if unknown:
        parser.error(f"unknown component {', '.join(unknown)}; choose from {', '.join(COMPONENT_NAMES)}")
    names = args.components or list(COMPONENT_NAMES)
    try:
        cfg = LocalConfig.from_env()
        if args.command == "up":
            started = time.monotonic()
            up(cfg, names, on_ready=_print_ready)
            print(f"infrastructure ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
        elif args.command == "down":
            for name, pid in down(cfg, names).items():
                print(f"{name:9} {'stopped pid ' + str(pid) if pid else 'was not running'}", file=sys.stderr)
        elif args.command == "status":
            states = status(cfg)
            for name, state in states.items():
                print(f"{name:9} {state}")
            return 0 if all(state.startswith("up") for state in states.values()) else 3
        else:
            for key, value in env_vars(cfg).items():
                print(f"export {key}={shlex.quote(value)}")
    except InfraError as exc:
        print(f"infra {args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
