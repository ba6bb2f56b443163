"""`python -m gateway --host 127.0.0.1 --port 8080`: one uvicorn worker on uvloop + httptools."""

from __future__ import annotations

import sys

from aiaas.serve import run_service


def main() -> None:
    # The gateway reads no client address (limits are per tenant and key), so uvicorn's
    # X-Forwarded-For rewriting is a layer every request would pay for nothing.
    sys.exit(
        run_service("python -m gateway", "gateway.app:create_app", port=8080, proxy_headers=False, server_header=False)
    )


if __name__ == "__main__":
    main()
