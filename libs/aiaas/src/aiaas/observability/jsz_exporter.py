"""JetStream consumer lag for Prometheus, read from the NATS monitoring port's `/jsz` as KEDA reads it.

NATS has no Prometheus endpoint, and a consumer process only knows its own lag while it runs (a stopped
consumer is exactly when lag matters). So one small process asks `/jsz` at each scrape and exports, per
account, stream and durable consumer, `jetstream_consumer_lag_messages` = `num_pending + num_ack_pending`:
the number KEDA's nats-jetstream scaler divides by `lagThreshold`, so alerts and dashboards see what the
autoscaler sees. `jetstream_jsz_up` is 0 when the monitoring port does not answer (then no lag series:
a stale number would look healthy).

    python -m aiaas.observability.jsz_exporter     # JSZ_EXPORTER_PORT (9140), NATS_MONITOR_URL

Run once per NATS cluster (the dev stack: beside NATS; Kubernetes: one replica in the platform namespace).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ConsumerLag", "JszCollector", "JszExporterSettings", "consumer_lags", "fetch_jsz", "serve"]

_log = logging.getLogger(__name__)
_QUERY = "/jsz?accounts=true&streams=true&consumers=true"


class JszExporterSettings(BaseSettings):
    """Where `/jsz` is and where the exporter listens."""

    model_config = SettingsConfigDict(env_prefix="JSZ_EXPORTER_", extra="ignore", populate_by_name=True)

    monitor_url: str = Field("http://127.0.0.1:58222", validation_alias="NATS_MONITOR_URL")
    port: int = Field(9140, ge=1, le=65535)
    host: str = "127.0.0.1"
    timeout_s: float = Field(2.0, gt=0)


@dataclass(frozen=True, slots=True)
class ConsumerLag:
    """One durable consumer's backlog: not yet delivered (`pending`) and delivered but not acked."""

    account: str
    stream: str
    consumer: str
    pending: int
    ack_pending: int
    redelivered: int

    @property
    def lag(self) -> int:
        return self.pending + self.ack_pending


def consumer_lags(jsz: dict[str, Any]) -> list[ConsumerLag]:
    """Every consumer of every stream of every account in a `/jsz?accounts&streams&consumers` answer."""
    lags = []
    for account in jsz.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            for consumer in stream.get("consumer_detail") or []:
                lags.append(
                    ConsumerLag(
                        account=str(account.get("name", "")),
                        stream=str(stream["name"]),
                        consumer=str(consumer["name"]),
                        pending=int(consumer.get("num_pending") or 0),
                        ack_pending=int(consumer.get("num_ack_pending") or 0),
                        redelivered=int(consumer.get("num_redelivered") or 0),
                    )
                )
    return lags


def fetch_jsz(monitor_url: str, timeout_s: float) -> dict[str, Any]:
    """The `/jsz` answer with accounts, streams and consumers; raises OSError/ValueError when unreachable."""
    if not monitor_url.startswith(("http://", "https://")):
        raise ValueError(f"NATS_MONITOR_URL must be http(s), got {monitor_url!r}")
    url = monitor_url.rstrip("/") + _QUERY  # the scheme is checked: urlopen never sees file: or custom ones
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310  # nosec B310
        body: dict[str, Any] = json.loads(resp.read())
    return body


class JszCollector(Collector):
    """Reads `/jsz` at each scrape (no cache: the lag is as fresh as the scrape)."""

    def __init__(self, monitor_url: str, timeout_s: float = 2.0) -> None:
        self.monitor_url = monitor_url
        self.timeout_s = timeout_s

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("jetstream_jsz_up", "1 if the NATS monitoring port answered /jsz at this scrape")
        try:
            lags = consumer_lags(fetch_jsz(self.monitor_url, self.timeout_s))
        except (OSError, ValueError, KeyError) as exc:
            _log.warning("cannot read %s/jsz: %s", self.monitor_url, exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        names = ["account", "stream", "consumer"]
        families = {
            "lag": GaugeMetricFamily(
                "jetstream_consumer_lag_messages", "num_pending + num_ack_pending (what KEDA scales on)", labels=names
            ),
            "pending": GaugeMetricFamily(
                "jetstream_consumer_pending_messages", "Messages not yet delivered to the consumer", labels=names
            ),
            "ack_pending": GaugeMetricFamily(
                "jetstream_consumer_ack_pending_messages", "Messages delivered and not yet acked", labels=names
            ),
            "redelivered": GaugeMetricFamily(
                "jetstream_consumer_redelivered_messages", "Messages delivered more than once, pending", labels=names
            ),
        }
        for lag in lags:
            labels = [lag.account, lag.stream, lag.consumer]
            families["lag"].add_metric(labels, lag.lag)
            families["pending"].add_metric(labels, lag.pending)
            families["ack_pending"].add_metric(labels, lag.ack_pending)
            families["redelivered"].add_metric(labels, lag.redelivered)
        yield from families.values()


def serve(settings: JszExporterSettings) -> tuple[CollectorRegistry, Any]:
    """Serve the collector alone (a registry of its own) on `settings.host:port`; returns (registry, server)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JszCollector(settings.monitor_url, settings.timeout_s))
    server, _thread = start_http_server(settings.port, addr=settings.host, registry=registry)
    _log.info("jsz exporter on http://%s:%d/metrics reading %s", settings.host, settings.port, settings.monitor_url)
    return registry, server


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    _registry, server = serve(JszExporterSettings())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
