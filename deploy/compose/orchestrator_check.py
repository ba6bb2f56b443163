"""compose-test's orchestrator leg: a FAQ run answered from an uploaded document and an Order run, in containers.

Proves the wiring `make test` cannot: the worker container reads the `orchestrator` service key off the volume the
migrate job wrote, calls the gateway and ingestion containers with it for the tenant, and the toolbox container.
A tenant of its own, so the chat leg's metering counts stay exact.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["orchestrator_runs"]

HttpJson = Callable[..., dict[str, Any]]
DOCUMENT = Path(__file__).resolve().parents[2] / "services/ingestion/tests/fixtures/help_centre/account-and-billing.md"


def _upload(url: str, key: str, path: Path) -> dict[str, Any]:
    boundary = f"compose-{uuid.uuid4().hex}"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n\r\n'
    body = head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}/v1/ingestion/documents", data=body, method="POST")  # noqa: S310
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - the compose stack on loopback
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _finished(
    http_json: HttpJson, runs: str, key: str, body: dict[str, Any], timeout_s: float = 120.0
) -> dict[str, Any]:
    """Create the run (waiting up to 20 s, under the HTTP client's 30 s), then read it until it is finished."""
    run = http_json("POST", runs, key, {**body, "wait": 20})
    deadline = time.monotonic() + timeout_s
    while run.get("status") in (None, "queued", "running", "compensating") and time.monotonic() < deadline:
        time.sleep(1.0)
        run = http_json("GET", f"{runs}/{run['run_id']}", key)
    return run


def orchestrator_runs(http_json: HttpJson, admin: str, control_plane: str, ingestion: str, orchestrator: str) -> str:
    """Run FAQ and Order through the orchestrator containers; a summary line ending OK or FAIL."""
    slug = f"compose-orch-{uuid.uuid4().hex[:8]}"
    tenant = http_json("POST", f"{control_plane}/admin/tenants", admin, {"name": slug, "slug": slug})
    scopes = ["chat", "ingestion", "orchestrator"]
    key = http_json(
        "POST", f"{control_plane}/admin/tenants/{tenant['id']}/keys", admin, {"name": slug, "scopes": scopes}
    )
    upload = _upload(ingestion, key["key"], DOCUMENT)
    document = f"{ingestion}/v1/ingestion/documents/{upload['document_id']}"
    # compose ingests on the INGEST work queue (INGESTION_PIPELINE=jetstream): the upload answers `queued`.
    deadline = time.monotonic() + 120.0
    while upload.get("status") in ("queued", "processing") and time.monotonic() < deadline:
        time.sleep(1.0)
        upload = http_json("GET", document, key["key"])
    runs = f"{orchestrator}/v1/orchestrator/runs"
    question = {"question": "How do I change my plan?"}
    faq = _finished(http_json, runs, key["key"], {"agent": "faq", "input": question, "idempotency_key": "f"})
    order_input = {"order_id": "ORD-1001"}
    order = _finished(http_json, runs, key["key"], {"agent": "order", "input": order_input, "idempotency_key": "o"})
    cited = [c.get("filename") for c in ((faq.get("output") or {}).get("reply") or {}).get("citations", [])]
    acted = [a["tool"] for a in (order.get("output") or {}).get("actions", []) if a.get("status") == "succeeded"]
    ok = (
        faq.get("status") == "succeeded"
        and DOCUMENT.name in cited
        and order.get("status") == "succeeded"
        and "payments.charge" in acted
        and "shipments.create" in acted
    )
    return (
        f"orchestrator: upload {upload.get('status')}; FAQ run {faq.get('status')} citing {sorted(set(cited))};"
        f" Order run {order.get('status')} with {acted}: {'OK' if ok else 'FAIL'}"
    )
