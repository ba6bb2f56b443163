"""`python -m gateway --host 127.0.0.1 --port 8080`: one uvicorn worker on uvloop + httptools."""

from __future__ import annotations

import argparse

from aiaas.service_app import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    # The gateway reads no client address (limits are per tenant and key), so uvicorn's
    # X-Forwarded-For rewriting is a layer every request would pay for nothing.
    serve("gateway.app:create_app", host=args.host, port=args.port, proxy_headers=False, server_header=False)


if __name__ == "__main__":
    main()
