"""aiaas.observability.jsz_exporter on a real NATS: the lag it exports is num_pending + num_ack_pending."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig

from aiaas.observability.jsz_exporter import JszExporterSettings, fetch_jsz, serve
from aiaas_testing import NatsServer, free_port, scrape_metrics


class _MonitoredNats(NatsServer):
    """The tests' NATS with its monitoring port open (where KEDA and the exporter read /jsz)."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir)
        self.monitor_port = free_port()

    def command(self) -> list[str]:
        return [*super().command(), "-m", str(self.monitor_port)]


def _series(samples: list, name: str) -> dict[tuple[str, str], float]:
    return {(s.labels["stream"], s.labels["consumer"]): s.value for s in samples if s.name == name}


async def test_lag_counts_undelivered_and_unacked_messages(tmp_path: Path) -> None:
    server = _MonitoredNats(tmp_path / "nats").start()
    settings = JszExporterSettings(monitor_url=f"http://127.0.0.1:{server.monitor_port}", port=free_port())
    _registry, http = serve(settings)
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="WORK", subjects=["work.>"])
        config = ConsumerConfig(ack_wait=300)
        sub = await js.pull_subscribe("work.>", durable="workers", stream="WORK", config=config)
        await js.pull_subscribe("work.>", durable="idle", stream="WORK", config=config)
        for i in range(7):
            await js.publish(f"work.item.{i}", b"x")
        url = f"http://127.0.0.1:{settings.port}/metrics"
        before = await scrape_metrics(url)
        assert _series(before, "jetstream_consumer_lag_messages") == {("WORK", "workers"): 7, ("WORK", "idle"): 7}

        fetched = await sub.fetch(4, timeout=5)
        for msg in fetched[:1]:  # fetched 4, acked 1: three are delivered and still count
            await msg.ack_sync()
        after = await scrape_metrics(url)
        assert _series(after, "jetstream_consumer_lag_messages") == {("WORK", "workers"): 6, ("WORK", "idle"): 7}
        assert _series(after, "jetstream_consumer_pending_messages")[("WORK", "workers")] == 3
        assert _series(after, "jetstream_consumer_ack_pending_messages")[("WORK", "workers")] == 3
        assert [s.value for s in after if s.name == "jetstream_jsz_up"] == [1]
    finally:
        await nc.close()
        http.shutdown()
        server.stop()


async def test_an_unreachable_monitor_is_down_without_lag_series() -> None:
    settings = JszExporterSettings(monitor_url=f"http://127.0.0.1:{free_port()}", port=free_port(), timeout_s=0.5)
    _registry, http = serve(settings)
    try:
        samples = await scrape_metrics(f"http://127.0.0.1:{settings.port}/metrics")
    finally:
        http.shutdown()
    assert [(s.name, s.value) for s in samples] == [("jetstream_jsz_up", 0)]


def test_only_http_monitor_urls_are_read() -> None:
    with pytest.raises(ValueError, match="must be http"):
        fetch_jsz("file:///etc/hostname", 1.0)
