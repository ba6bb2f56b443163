"""Container health check: `python -m aiaas.healthcheck [URL]` exits 0 when URL answers 2xx within 2 s.

The URL defaults to $HEALTHCHECK_URL (deploy/Dockerfile sets each image's listener from its build args).
An exec-form check with no spaces in its arguments, because podman 4.3's Docker API splits `python -c "..."` on spaces.
"""

from __future__ import annotations

import os
import sys
import urllib.request

__all__ = ["check", "main"]


def check(url: str, timeout_s: float = 2.0) -> bool:
    """True when `url` (http or https only) answers a 2xx status within `timeout_s`."""
    if not url.startswith(("http://", "https://")):
        return False
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310  # nosec B310 - http(s) only
            status: int = response.status
            return 200 <= status < 300
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    url = args[0] if args else os.environ.get("HEALTHCHECK_URL", "")
    if not url:
        print("usage: python -m aiaas.healthcheck URL (or set HEALTHCHECK_URL)", file=sys.stderr)
        return 2
    return 0 if check(url) else 1


if __name__ == "__main__":
    sys.exit(main())
