"""The HTTP metrics every service exports under one naming scheme, kept by `aiaas.service_app`.

`http_requests_total{service,route,method,status}` and `http_request_duration_seconds{service,route,method}`
are what the SLO rules (observability/slo.yaml) read, the same names on every `/metrics`. `route` is the
route's template (`/v1/runs/{run_id}`), never the raw path: a path carries ids and would make one series
per id; a request no route matched counts as `unmatched`. The duration runs from the request to the
response head: a streamed answer counts until it starts (its length is the client's choice, and time
to first token has its own histogram in the gateway). A client that left before any answer counts as
status 499, a handler that raised before answering as 500.

The latency buckets hold every latency threshold of observability/slo.yaml (tests/observability checks it):
a slow-request ratio is `1 - bucket{le=threshold} / count`, exact only when the threshold is a bucket.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Histogram
from starlette.types import Message, Receive, Scope, Send

__all__ = ["HTTP_LATENCY_BUCKETS", "HTTP_REQUESTS", "HTTP_REQUEST_DURATION", "HttpMetrics", "UNMATCHED"]

HTTP_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED = "unmatched"
_CLIENT_GONE = "499"

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered, by route template", ["service", "route", "method", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from an HTTP request to its response head, by route template",
    ["service", "route", "method"],
    buckets=HTTP_LATENCY_BUCKETS,
)

App = Callable[[Scope, Receive, Send], Awaitable[None]]


class HttpMetrics:
    """Counts and times the HTTP requests of one service (WebSocket and lifespan scopes pass untouched)."""

    def __init__(self, service: str) -> None:
        self.service = service
        # Children looked up once per label set: `labels()` locks and builds a key on every call.
        self._series: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def series(self, route: str, method: str, status: str) -> tuple[Counter, Histogram]:
        key = (route, method, status)
        found = self._series.get(key)
        if found is None:
            found = (
                HTTP_REQUESTS.labels(service=self.service, route=route, method=method, status=status),
                HTTP_REQUEST_DURATION.labels(service=self.service, route=route, method=method),
            )
            self._series[key] = found
        return found

    async def observe(self, app: App, scope: Scope, receive: Receive, send: Send, route: str | None = None) -> None:
        """Run `app` on one HTTP request and record it under `route` (else the template the router matched)."""
        started = time.perf_counter()
        elapsed: float | None = None
        status = _CLIENT_GONE

        async def timed_send(message: Message) -> None:
            nonlocal elapsed, status
            if message["type"] == "http.response.start":
                elapsed = time.perf_counter() - started
                status = str(message["status"])
            await send(message)

        try:
            await app(scope, receive, timed_send)
        except BaseException:
            if elapsed is None:
                status = "500"
            raise
        finally:
            template = route or _matched_template(scope)
            counter, histogram = self.series(template, scope["method"], status)
            counter.inc()
            histogram.observe(time.perf_counter() - started if elapsed is None else elapsed)


def _matched_template(scope: Scope) -> str:
    """The path template of the route Starlette matched (it sets `scope["route"]`), else UNMATCHED."""
    matched = scope.get("route")
    path = getattr(matched, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED
