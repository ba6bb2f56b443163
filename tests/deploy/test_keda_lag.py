"""Acceptance 3: the replicas KEDA's nats-jetstream scaler would ask for, from a real NATS's /jsz.

A private nats-server with its monitoring port; the orchestrator's ORCH stream and `orchestrator-runs` consumer
made by the topology code the worker runs (ensure_topology); no worker: the consumer is stopped. Lag is read as the
scaler reads it, `/jsz?acc=$G&consumers=true&config=true` -> num_pending + num_ack_pending of the consumer; the
replicas are the HPA's ceil(lag / lagThreshold) clamped to the rendered ScaledObject's min/max, and 0 when min is
0 and the lag is at or below activationLagThreshold.
"""

from __future__ import annotations

import json
import math
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from k8s_checks.core import Render

from aiaas.events.topology import CONSUMERS, ensure_topology
from aiaas_testing.servers import NatsServer, free_port

CONSUMER = "orchestrator-runs"
SPEC = CONSUMERS[CONSUMER]


class MonitoredNats(NatsServer):
    """NatsServer with the HTTP monitoring port KEDA reads (`-m`)."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir)
        self.monitor_port = free_port()

    def command(self) -> list[str]:
        return [*super().command(), "-m", str(self.monitor_port)]


@dataclass(frozen=True)
class Scaling:
    stream: str
    lag_threshold: int
    activation: int
    low: int
    high: int

    def replicas(self, lag: int) -> int:
        if self.low == 0 and lag <= self.activation:
            return 0
        return max(self.low, 1, min(self.high, math.ceil(lag / self.lag_threshold)))


def scaling(rendered: Render) -> Scaling:
    for so in rendered.of_kind("ScaledObject"):
        for trig in so["spec"]["triggers"]:
            meta = trig["metadata"]
            if meta["consumer"] == CONSUMER:
                return Scaling(
                    meta["stream"],
                    int(meta["lagThreshold"]),
                    int(meta.get("activationLagThreshold", "0")),
                    int(so["spec"].get("minReplicaCount", 0)),
                    int(so["spec"]["maxReplicaCount"]),
                )
    raise AssertionError(f"no ScaledObject reads {CONSUMER}")


def jsz_lag(monitor_port: int, stream: str, consumer: str) -> int:
    url = f"http://127.0.0.1:{monitor_port}/jsz?acc=%24G&consumers=true&config=true"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own loopback server
        body = json.load(resp)
    for account in body.get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail["name"] != stream:
                continue
            for cons in detail.get("consumer_detail") or []:
                if cons["name"] == consumer:
                    return int(cons["num_pending"]) + int(cons["num_ack_pending"])
    raise AssertionError(f"{stream}/{consumer} not in /jsz: {body}")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[MonitoredNats]:
    srv = MonitoredNats(tmp_path / "nats").start()
    try:
        yield srv
    finally:
        srv.stop()


async def _publish(js: nats.js.JetStreamContext, start: int, count: int) -> None:
    for i in range(start, start + count):
        await js.publish(f"orch.run.requested.tenant-{i % 3}", b"{}", headers={"Nats-Msg-Id": f"lag-{i}"})


async def _fetch(sub: nats.js.JetStreamContext.PullSubscription, count: int) -> list[nats.aio.msg.Msg]:
    """Exactly `count` messages (a fetch may return fewer than asked)."""
    fetched: list[nats.aio.msg.Msg] = []
    while len(fetched) < count:
        fetched += await sub.fetch(count - len(fetched), timeout=5)
    return fetched


async def test_replicas_follow_jetstream_lag(server: MonitoredNats, renders: dict[str, Render]) -> None:
    prod, dev = scaling(renders["prod"]), scaling(renders["dev"])
    assert prod.stream == SPEC.stream
    assert (prod.lag_threshold, prod.activation, prod.low, prod.high) == (16, 1, 1, 10)
    assert (dev.low, dev.high) == (0, 2)
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        await ensure_topology(js, (CONSUMER,))
        published = 0
        cases = [  # (total published, lag, prod replicas, dev replicas)
            (0, 0, 1, 0),  # nothing queued: prod keeps its minimum, dev is scaled to zero
            (1, 1, 1, 0),  # at the activation threshold: dev stays at zero
            (2, 2, 1, 1),  # just past it: dev wakes one
            (40, 40, 3, 2),  # between: ceil(40/16) = 3; dev clamped to its max
            (200, 200, 10, 2),  # past max: ceil(200/16) = 13 -> 10
        ]
        for total, lag, want_prod, want_dev in cases:
            await _publish(js, published, total - published)
            published = total
            measured = jsz_lag(server.monitor_port, SPEC.stream, CONSUMER)
            assert measured == lag
            assert (prod.replicas(measured), dev.replicas(measured)) == (want_prod, want_dev)
        # A worker fetches 60 and acks 20: the 40 unacked still count (num_ack_pending), 140 wait (num_pending).
        sub = await js.pull_subscribe_bind(durable=CONSUMER, stream=SPEC.stream)
        fetched = await _fetch(sub, 60)
        for msg in fetched[:20]:
            await msg.ack_sync()
        measured = jsz_lag(server.monitor_port, SPEC.stream, CONSUMER)
        assert measured == 180
        assert prod.replicas(measured) == 10  # ceil(180/16) = 12 -> max
        for msg in fetched[20:]:
            await msg.ack_sync()
        for msg in await _fetch(sub, 130):
            await msg.ack_sync()
        measured = jsz_lag(server.monitor_port, SPEC.stream, CONSUMER)
        assert measured == 10
        assert (prod.replicas(measured), dev.replicas(measured)) == (1, 1)  # ceil(10/16) = 1
    finally:
        await nc.close()
