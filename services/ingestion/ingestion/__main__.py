"""`python -m ingestion [serve] [--host H] [--port P]` runs the ingestion API (`/v1/ingestion`, port 8095);
`python -m ingestion consume` the pipeline's consumer (`ingest.document.requested.<tenant>` → parse, chunk, embed,
store; ingestion/consumers.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aiaas.serve import Command, run_service
from aiaas.worker import WorkerContext, run_consumer_worker
from ingestion.config import IngestionSettings

__all__ = ["main"]


def _consume(_args: argparse.Namespace) -> int:
    from ingestion.app import build_pipeline
    from ingestion.consumers import CONSUMER_NAMES, runner

    settings = IngestionSettings(service_name="ingestion-consumer")

    async def consume(worker: WorkerContext) -> None:
        pipeline = build_pipeline(settings, worker.sessions)
        try:
            await runner(worker.js, pipeline, batch_size=settings.consumer_batch_size).run(worker.stop)
        finally:
            await pipeline.parser.aclose()

    run_consumer_worker(
        settings,
        consume,
        database_url=settings.database_url,
        consumers=CONSUMER_NAMES,
        metrics_port=settings.consumer_metrics_port,
        metrics_host=settings.metrics_host,
    )
    return 0


CONSUME = Command("consume", "ingest the documents uploads request (JetStream consumer ingestion-documents)", _consume)


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service(
        "python -m ingestion", "ingestion.app:create_app", port=IngestionSettings().port, commands=[CONSUME], argv=argv
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
