"""Entry points for background worker processes (consumers, relays): logs, traces, graceful stop.

`run_worker(settings, work)` runs any `work(stop)`; `run_consumer_worker` is the one shape of a JetStream
consumer process: a metrics listener, one engine for its database role, one NATS connection with the
stream topology (and its durable consumers) ensured, then `body(WorkerContext)` until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import create_engine, session_factory
from aiaas.events.topology import ensure_topology
from aiaas.observability.logging import configure_logging
from aiaas.observability.metrics import serve_metrics
from aiaas.observability.tracing import setup_tracing
from aiaas.settings import ServiceSettings

__all__ = ["run_worker", "run_consumer_worker", "WorkerContext"]


def run_worker(settings: ServiceSettings, work: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `work(stop)` until SIGINT/SIGTERM sets `stop`; `work` should finish its batch and return."""
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    setup_tracing(settings.service_name, settings.otel_exporter)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await work(stop)

    asyncio.run(_main())


@dataclass(frozen=True)
class WorkerContext:
    """What a consumer worker's body gets: JetStream, sessions of its database role, the stop event."""

    nats: NATS
    js: JetStreamContext
    sessions: async_sessionmaker[AsyncSession]
    stop: asyncio.Event


def run_consumer_worker(
    settings: ServiceSettings,
    body: Callable[[WorkerContext], Awaitable[None]],
    *,
    database_url: str,
    consumers: Sequence[str] = (),
    metrics_port: int = 0,
    metrics_host: str = "127.0.0.1",
    pool_size: int = 2,
) -> None:
    """Run `body` as the process `settings.service_name` until a signal; `consumers` are ensured first.

    `database_url` says which role the worker holds (aiaas.roles); `metrics_port` 0 = no listener.
    """
    if metrics_port:
        serve_metrics(metrics_port, metrics_host)

    async def work(stop: asyncio.Event) -> None:
        name = settings.service_name
        engine = create_engine(database_url, pool_size=pool_size, application_name=name)
        nc = await nats.connect(settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name=name)
        try:
            js = nc.jetstream()
            await ensure_topology(js, consumers=tuple(consumers))
            await body(WorkerContext(nats=nc, js=js, sessions=session_factory(engine), stop=stop))
        finally:
            # Everything handled is acked already: close without waiting on the drain timeout.
            await nc.close()
            await engine.dispose()

    run_worker(settings, work)
