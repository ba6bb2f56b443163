"""Entry point for background worker processes (consumers, relays): logs, traces, graceful stop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from aiaas.observability.logging import configure_logging
from aiaas.observability.tracing import setup_tracing
from aiaas.settings import ServiceSettings

__all__ = ["run_worker"]


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
