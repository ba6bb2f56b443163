"""`python -m ingestion [serve] [--host H] [--port P]` runs the ingestion API (`/v1/ingestion`, port 8095);
`python -m ingestion consume` the pipeline's consumer (`ingest.document.requested.<tenant>` → parse, chunk, embed,
store; ingestion/consumers.py); `python -m ingestion reindex [--tenant T ...]` re-embeds the chunks another model
embedded (ingestion/reindex/service.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence

from pydantic import ValidationError

from aiaas.observability.logging import configure_logging
from aiaas.serve import Command, run_service
from aiaas.worker import WorkerContext, run_consumer_worker
from ingestion.config import IngestionAdminSettings, IngestionSettings

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


def _reindex(args: argparse.Namespace) -> int:
    from ingestion.reindex.service import run_reindex

    settings: IngestionSettings
    admin_url: str | None
    if args.tenant:
        settings = IngestionSettings(service_name="ingestion-reindex")
        admin_url = None
    else:
        # Finding the tenants reads every tenant's chunks: the one command here given platform_admin.
        try:
            admin = IngestionAdminSettings(service_name="ingestion-reindex")
        except ValidationError:
            print(
                "python -m ingestion reindex: error: ADMIN_DATABASE_URL is needed to find the tenants"
                " (or name them with --tenant)",
                file=sys.stderr,
            )
            return 2
        settings, admin_url = admin, admin.admin_database_url
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    results = asyncio.run(
        run_reindex(
            settings.database_url,
            admin_database_url=admin_url,
            tenants=args.tenant,
            batch_size=args.batch_size,
            embedder_variant=settings.embedder_variant,
        )
    )
    print(
        json.dumps(
            {
                "tenants": [
                    {"tenant_id": str(r.tenant_id), "chunks": r.chunks, "embedded": r.embedded, "skipped": r.skipped}
                    for r in results
                ]
            }
        )
    )
    return 0


def _reindex_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tenant", type=uuid.UUID, action="append", help="only this tenant (repeatable); default: every tenant"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="chunks read, embedded and written at once")


REINDEX = Command(
    "reindex", "re-embed chunks stored by another model than the current embedder's", _reindex, _reindex_arguments
)


def main(argv: Sequence[str] | None = None) -> int:
    code: int = run_service(
        "python -m ingestion",
        "ingestion.app:create_app",
        port=IngestionSettings().port,
        commands=[CONSUME, REINDEX],
        argv=argv,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
