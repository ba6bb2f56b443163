"""`python -m stripe_sim --host 127.0.0.1 --port 8092`: serve the Stripe stand-in with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from stripe_sim.app import create_app
from stripe_sim.config import Settings


def main(argv: list[str] | None = None) -> None:
    """Parse the command line (defaults from STRIPE_SIM_* settings) and serve."""
    settings = Settings()
    parser = argparse.ArgumentParser(prog="stripe_sim", description="Stripe API stand-in")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--log-level", default=settings.log_level.lower())
    parser.add_argument("--access-log", action="store_true", default=settings.access_log)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
    )


if __name__ == "__main__":
    main()
