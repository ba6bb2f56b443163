"""Rebuild the read models from the streams: `python -m analytics rebuild [--allow-partial]`.

1. Delete the durable consumers "analytics-usage" and "analytics-billing" (their positions go).
2. As platform_admin, TRUNCATE the three analytics tables in one transaction.
3. Re-create both durables with DeliverPolicy.ALL: they start again at the streams' first message.
4. Run both consumers in this process until each has acked everything up to the stream's
   last sequence as it was at step 3, then exit; a running `analytics.consumer` keeps going.

Events arriving during the rebuild are safe: they are in the stream, so the new durables
deliver them. A batch the running consumer applied from the old durable after the truncate
recorded its ids in `analytics_events_applied`, so the replay skips them; one applied before
the truncate was wiped and is replayed. Either way every event counts once. While it runs
the KPIs are incomplete (the read models are eventually consistent anyway).

The streams keep events for `max_age` (30 days for USAGE): a rebuild can only restore
what the streams still hold, so it refuses when a stream no longer starts at sequence 1
unless `--allow-partial` is given.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from aiaas.db import admin_session, create_engine, session_factory
from aiaas.events import CONSUMERS
from aiaas.events.publisher import NATS_UNAVAILABLE
from aiaas.events.topology import ensure_consumer, ensure_topology
from analytics.config import AnalyticsAdminSettings
from analytics.rollups import repository
from analytics.rollups.consumers import BILLING_CONSUMER, USAGE_CONSUMER, runners

__all__ = ["RebuildError", "RebuildResult", "rebuild"]

log = logging.getLogger(__name__)


class RebuildError(RuntimeError):
    """The rebuild cannot start (history already expired) or did not catch up in time."""


@dataclass(frozen=True)
class RebuildResult:
    targets: dict[str, int]
    applied: dict[str, int]


async def _targets(js: JetStreamContext, allow_partial: bool) -> dict[str, int]:
    targets: dict[str, int] = {}
    for name in (USAGE_CONSUMER, BILLING_CONSUMER):
        spec = CONSUMERS[name]
        state = (await js.stream_info(spec.stream)).state
        # An empty stream has first_seq 0 (never used) or last_seq + 1 (everything expired).
        if state.first_seq > 1 and not allow_partial:
            raise RebuildError(
                f"stream {spec.stream} starts at sequence {state.first_seq}: older events expired, a rebuild "
                "would lose them. Re-run with --allow-partial to rebuild from what the stream still holds."
            )
        targets[name] = state.last_seq
    return targets


async def _caught_up(js: JetStreamContext, name: str, target: int) -> bool:
    spec = CONSUMERS[name]
    try:
        info = await js.consumer_info(spec.stream, spec.durable)
    except NATS_UNAVAILABLE:
        return False
    if info.num_ack_pending:
        return False
    acked = info.ack_floor.stream_seq if info.ack_floor else 0
    return acked >= target or not info.num_pending


async def _wait_caught_up(js: JetStreamContext, name: str, target: int, poll_s: float = 0.2) -> None:
    caught_up = False
    while not caught_up:
        caught_up = await _caught_up(js, name, target)
        if not caught_up:
            await asyncio.sleep(poll_s)


async def rebuild(settings: AnalyticsAdminSettings, *, allow_partial: bool = False) -> RebuildResult:
    """Empty the read models and replay both streams into them; see the module docstring."""
    engine = create_engine(settings.database_url, pool_size=2, application_name="analytics-rebuild")
    admin_engine = create_engine(settings.admin_database_url, pool_size=1, application_name="analytics-rebuild")
    nc = await nats.connect(settings.nats_url, name="analytics-rebuild")
    stop = asyncio.Event()
    try:
        js = nc.jetstream()
        await ensure_topology(js, consumers=())
        await _targets(js, allow_partial)  # refuse before deleting anything
        for name in (USAGE_CONSUMER, BILLING_CONSUMER):
            try:
                await js.delete_consumer(CONSUMERS[name].stream, CONSUMERS[name].durable)
            except NotFoundError:
                pass  # never created, or a previous rebuild died in between
        admin_sessions = session_factory(admin_engine)
        async with admin_session(admin_sessions) as session:
            await repository.truncate_read_models(session)
        log.info("read models truncated")
        for name in (USAGE_CONSUMER, BILLING_CONSUMER):
            await ensure_consumer(js, CONSUMERS[name])
        targets = await _targets(js, allow_partial=True)
        work = runners(js, session_factory(engine), batch_size=settings.consumer_batch_size)
        tasks = [asyncio.create_task(runner.run(stop)) for runner in work.values()]
        try:
            async with asyncio.timeout(settings.rebuild_timeout_s):
                for name, target in targets.items():
                    await _wait_caught_up(js, name, target)
        except TimeoutError as exc:
            raise RebuildError(f"not caught up within {settings.rebuild_timeout_s}s; run it again") from exc
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        async with admin_session(admin_sessions) as session:
            applied = await repository.applied_per_stream(session)
        return RebuildResult(targets=targets, applied=applied)
    finally:
        stop.set()
        await nc.close()
        await engine.dispose()
        await admin_engine.dispose()
