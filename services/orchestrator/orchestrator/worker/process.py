"""The worker process (`python -m orchestrator work`) and the retention job (`python -m orchestrator prune`).

The worker: the `orchestrator-runs` consumer (RunConsumer) and the expiry sweeper side by side, one app_runtime
engine for runs' transactions, one platform_admin engine for the sweeper's scan, one checkpoint pool of
`ORCH_MAX_INFLIGHT` connections (one per run in flight), the engine with its tool adapter and gateway client.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from aiaas.checkpoints import checkpoint_pool
from aiaas.checkpoints.inline import install_saver_inline_executor
from aiaas.db import create_engine, session_factory
from aiaas.events import EventPublisher
from aiaas.observability.logging import configure_logging
from aiaas.tools import ToolAdapter
from aiaas.worker import WorkerContext, run_consumer_worker
from orchestrator.engine import Engine
from orchestrator.llm import GatewayLLM
from orchestrator.tools_catalog import base_urls
from orchestrator.worker.config import WorkerSettings
from orchestrator.worker.consumer import RUNS_CONSUMER, RunConsumer
from orchestrator.worker.prune import prune_episode_records, prune_finished_runs
from orchestrator.worker.runs import RunProcessor
from orchestrator.worker.sweeper import ExpirySweeper

__all__ = ["work", "prune"]

log = logging.getLogger(__name__)


def work(_args: argparse.Namespace) -> int:
    """Run the worker until SIGTERM/SIGINT (runs in flight get ORCH_DRAIN_S to finish)."""
    settings = WorkerSettings()
    if not settings.service_key:
        raise SystemExit("ORCH_SERVICE_KEY (or ORCH_SERVICE_KEY_FILE) is required: the worker calls the gateway")

    async def body(worker: WorkerContext) -> None:
        install_saver_inline_executor()  # the checkpoints' (de)serialisation without a thread hop per put
        admin_engine = create_engine(settings.admin_database_url, pool_size=1, application_name=settings.service_name)
        runs_engine = runs_database(settings.database_url, settings.max_inflight, settings.service_name)
        sessions = session_factory(runs_engine)
        pool = checkpoint_pool(settings.database_url, min_size=1, max_size=settings.max_inflight)
        tools = ToolAdapter(base_urls(toolbox_url=settings.toolbox_url, ingestion_url=settings.ingestion_url))
        llm = GatewayLLM(settings.gateway_url, settings.service_key)
        publisher = EventPublisher(worker.js, timeout_s=settings.publish_timeout_s)
        try:
            await pool.open(wait=True)
            engine = Engine(
                sessions=sessions,
                checkpoints=pool,
                tools=tools,
                llm=llm,
                settings=settings,
                publisher=publisher,
            )
            processor = RunProcessor(
                sessions=sessions,
                engine=engine,
                publisher=publisher,
                hitl_expiry_s=settings.hitl_expiry_s,
                leased_retry_s=settings.leased_retry_s,
            )
            consumer = RunConsumer(
                worker.js,
                processor,
                max_inflight=settings.max_inflight,
                heartbeat_s=settings.heartbeat_s,
                drain_s=settings.drain_s,
                max_deliveries=settings.max_deliveries,
                error_retry_base_s=settings.error_retry_base_s,
                error_retry_cap_s=settings.error_retry_cap_s,
            )
            admin_sessions = session_factory(admin_engine)
            sweeper = ExpirySweeper(
                admin_sessions, publisher, interval_s=settings.expiry_sweep_s, batch=settings.expiry_batch
            )
            await asyncio.gather(consumer.run(worker.stop), sweeper.run(worker.stop))
        finally:
            await tools.aclose()
            await llm.aclose()
            await pool.close()
            await runs_engine.dispose()
            await admin_engine.dispose()

    # The runs' transactions use runs_database's engine; the worker context's own stays small (unused by runs).
    run_consumer_worker(
        settings,
        body,
        database_url=settings.database_url,
        consumers=(RUNS_CONSUMER.durable,),
        metrics_port=settings.worker_metrics_port,
        metrics_host=settings.metrics_host,
        pool_size=1,
    )
    return 0


def runs_database(url: str, max_inflight: int, application_name: str) -> AsyncEngine:
    """The app_runtime engine of runs' short transactions (ledger, episode record, run rows): 7 per episode.

    - `max_inflight` connections kept (no overflow): with fewer, the transactions of 16 runs in flight opened and
      closed overflow connections (a Postgres backend forked per checkout);
    - no `pool_pre_ping`: its ping is 2 round trips per transaction (14 of ~47 per episode). A connection Postgres
      dropped fails the transaction that meets it and SQLAlchemy invalidates the pool's older connections; that
      delivery is retried like any failed one (nak, redelivery resumes from the checkpoint and the ledger).
    """
    return create_async_engine(
        url,
        pool_size=max_inflight,
        max_overflow=0,
        pool_timeout=60,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": application_name}},
    )


def prune(args: argparse.Namespace) -> int:
    """Delete the checkpoints, then the episode records, of runs finished longer ago than their retentions; prints
    what it did."""
    settings = WorkerSettings(service_name="orchestrator-prune")
    configure_logging(settings.service_name, settings.log_level, json=settings.log_json)
    days = args.days if args.days is not None else settings.ckpt_retention_days
    episode_days = args.episode_days if args.episode_days is not None else settings.episode_retention_days
    if days < 0 or episode_days < 0:
        print("error: --days and --episode-days must be >= 0", file=sys.stderr)
        return 2
    if episode_days < days:  # a deleted run's checkpoints could no longer be found by the next prune
        print("error: --episode-days must be >= --days (episode records outlive their checkpoints)", file=sys.stderr)
        return 2

    async def main() -> None:
        admin_engine = create_engine(settings.admin_database_url, pool_size=1, application_name=settings.service_name)
        runtime_engine = create_engine(settings.database_url, pool_size=1, application_name=settings.service_name)
        pool = checkpoint_pool(settings.database_url, min_size=1, max_size=1)
        admin_sessions = session_factory(admin_engine)
        try:
            await pool.open(wait=True)
            report = await prune_finished_runs(admin_sessions, pool, days=days, batch=settings.prune_batch)
            episodes = await prune_episode_records(
                admin_sessions, session_factory(runtime_engine), days=episode_days, batch=settings.prune_batch
            )
        finally:
            await pool.close()
            await admin_engine.dispose()
            await runtime_engine.dispose()
        print(f"pruned {report.pruned} runs of {report.tenants} tenants ({report.candidates} finished > {days} days)")
        print(
            f"deleted {episodes.pruned} episode records of {episodes.tenants} tenants "
            f"({episodes.candidates} finished > {episode_days} days)"
        )

    asyncio.run(main())
    return 0
