"""Usage writer: consumes `usage.recorded` events into `requests` rows (idempotent by event id).

Run as its own process: `python -m gateway.usage_writer`. Rows are written in batches, one transaction per
tenant under that tenant's RLS context (gateway.usage.consumers); a redelivered event hits
`on conflict (event_id) do nothing`, so nothing counts twice.
"""

from __future__ import annotations

from aiaas.worker import run_consumer_worker
from gateway.config import GatewaySettings
from gateway.usage.consumers import USAGE_WRITER, write_usage_until_stopped

__all__ = ["main"]


def main() -> None:
    settings = GatewaySettings(service_name=USAGE_WRITER)
    run_consumer_worker(
        settings,
        write_usage_until_stopped,
        database_url=settings.database_url,
        consumers=(USAGE_WRITER,),
        metrics_port=settings.usage_writer_metrics_port,
        metrics_host=settings.metrics_host,
    )


if __name__ == "__main__":
    main()
