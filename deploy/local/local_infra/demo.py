"""The demo tenant's knowledge base under `make dev`: files uploaded through the ingestion API (multipart)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["upload_files"]


def upload_files(base_url: str, api_key: str, directory: Path) -> str:
    """Upload every file of `directory` (unchanged files are no-ops for ingestion): one status per file."""
    done = []
    for path in sorted(directory.iterdir()):
        boundary = f"aiaas-{time.time_ns()}"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + path.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(  # noqa: S310 - loopback URL the caller built
            f"{base_url}/v1/ingestion/documents",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as resp:  # noqa: S310
                answer = json.loads(resp.read())
            done.append(f"{path.name} {'unchanged' if answer.get('unchanged') else answer.get('status')}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            done.append(f"{path.name} failed ({exc})")
    return ", ".join(done)
