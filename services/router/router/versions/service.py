"""Router versions' rules: register (the artifact must load), activate as canary or stable, share, roll back.

Every status change runs in one platform_admin transaction under the versions lock, appends its history row,
and, when a canary ends (rolled back or promoted), stages its event in the outbox in that same transaction;
the event is published after the commit. The canary monitor ends canaries through `end_canary` with the
numbers behind its verdict; admins through `rollback` and `activate(mode="stable")`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas import clock
from aiaas.db import admin_session
from aiaas.errors import NotFound, PlatformError, Unprocessable
from aiaas.events.envelope import EventEnvelope
from aiaas.events.schemas import CanaryComparison, CanaryLatency, RouterCanaryOutcome
from aiaas.storable import storable_json
from router.canary.events import CanaryEvents, canary_event
from router.versions import repository as repo
from router.versions.artifacts import ArtifactError, load_bytes
from router.versions.schemas import ID_PATTERN, ActivateIn, RegisterIn

__all__ = ["VersionAdmin", "CanaryVerdictNumbers", "Conflict"]

Outcome = Literal["rolled_back", "promoted"]


class Conflict(PlatformError):
    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


@dataclass(frozen=True)
class CanaryVerdictNumbers:
    """What the monitor saw when it ended a canary (goes into the event and the row's status_detail)."""

    window_s: float
    alpha: float
    comparisons: list[CanaryComparison]
    latency: CanaryLatency | None


def _not_found(version_id: str) -> NotFound:
    return NotFound(f"No router version '{version_id}'.", code="router_version_not_found", param="id")


class VersionAdmin:
    """Router versions on the platform_admin role; `default_version` names the stable one while none is stored."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        events: CanaryEvents,
        *,
        default_version: str,
        cache_dir: Path | None = None,
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self._now = now
        self._sessions = sessions
        self._events = events
        self._default_version = default_version
        self._cache_dir = cache_dir

    # ---- reads -------------------------------------------------------------------------------------------

    async def list_all(self, status: str | None = None) -> list[repo.VersionRow]:
        async with admin_session(self._sessions) as session:
            return await repo.list_versions(session, status)

    async def get(self, version_id: str) -> tuple[repo.VersionRow, list[repo.TransitionRow]]:
        async with admin_session(self._sessions) as session:
            row = await repo.get_version(session, version_id)
            if row is None:
                raise _not_found(version_id)
            return row, await repo.transitions(session, version_id)

    # ---- register ----------------------------------------------------------------------------------------

    async def register(self, body: RegisterIn, actor: str) -> tuple[repo.VersionRow, bool]:
        """The stored version and whether it is new (registering the same artifact again is a no-op)."""
        data = await self._artifact_bytes(body)
        try:
            model = await asyncio.to_thread(load_bytes, data, self._cache_dir)
        except ArtifactError as exc:
            raise Unprocessable(
                f"The artifact does not load: {_reason(exc)}", code="invalid_artifact", param="artifact"
            ) from None
        try:
            storable_json([model.eval_report, model.data_hash, list(model.tiers)])
        except ValueError as exc:
            raise Unprocessable(
                f"The artifact's eval report cannot be stored: {exc}.", code="invalid_artifact", param="artifact"
            ) from None
        if not re.fullmatch(ID_PATTERN, model.version):
            raise Unprocessable(
                f"The artifact's version must match {ID_PATTERN} (it names the version).",
                code="invalid_artifact_version",
                param="artifact.version",
            )
        async with admin_session(self._sessions) as session:
            row = await repo.insert_version(
                session,
                id=model.version,
                sha256=model.sha256,
                data_hash=model.data_hash[:200],
                eval_report=model.eval_report,
                tiers=list(model.tiers),
                artifact=data,
                actor=actor,
                now=self._now(),
            )
            if row is not None:
                await repo.insert_transition(
                    session,
                    row.id,
                    from_status=None,
                    to_status="registered",
                    share=0.0,
                    actor=actor,
                    reason="registered",
                    detail={},
                    now=row.created_at,
                )
                return row, True
            same = await repo.get_version(session, model.version)
        if same is not None and same.sha256 == model.sha256:
            return same, False
        raise Conflict(
            f"Router version '{model.version}' exists with another artifact, or this artifact is registered under"
            " another version: give the artifact a new `version`.",
            code="router_version_exists",
            param="artifact.version",
        )

    @staticmethod
    async def _artifact_bytes(body: RegisterIn) -> bytes:
        if body.artifact is not None:
            return json.dumps(body.artifact, sort_keys=True, indent=1, ensure_ascii=True).encode() + b"\n"
        path = Path(str(body.artifact_path))
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (OSError, ValueError):
            raise Unprocessable(
                "The artifact_path cannot be read by the router admin listener.",
                code="artifact_unreadable",
                param="artifact_path",
            ) from None

    # ---- status changes ----------------------------------------------------------------------------------

    async def activate(self, version_id: str, body: ActivateIn, actor: str) -> repo.VersionRow:
        """Start `version_id` as canary on `body.share`, or make it stable (the old stable is retired)."""
        published: list[EventEnvelope] = []
        async with admin_session(self._sessions) as session:
            await repo.lock_versions(session)
            row = await self._row(session, version_id)
            if body.mode == "canary":
                if row.status in ("canary", "stable"):
                    raise Conflict(
                        f"Router version '{version_id}' is already {row.status}"
                        + (": change its share instead." if row.status == "canary" else "."),
                        code="router_version_active",
                        param="id",
                    )
                running = await repo.list_versions(session, "canary")
                if running:
                    raise Conflict(
                        f"Router version '{running[0].id}' is on canary: roll it back or promote it first.",
                        code="canary_running",
                        param="id",
                    )
                share = float(body.share or 0.0)
                row = await self._move(session, row, "canary", share, actor, body.reason or "canary", {}, True)
            else:
                if row.status == "stable":
                    raise Conflict(f"Router version '{version_id}' is already stable.", code="router_version_active")
                event = await self._promote(session, row, actor, body.reason or "activated as stable", None)
                row = await self._row(session, version_id)
                if event is not None:
                    published.append(event)
        for event in published:
            await self._events.publish(event)
        return row

    async def set_share(self, version_id: str, share: float, actor: str) -> repo.VersionRow:
        async with admin_session(self._sessions) as session:
            await repo.lock_versions(session)
            row = await self._row(session, version_id)
            if row.status != "canary":
                raise Conflict(
                    f"Router version '{version_id}' is {row.status}, not canary: only a canary has a share.",
                    code="not_canary",
                    param="id",
                )
            return await self._move(session, row, "canary", share, actor, f"share {share:g}", {}, False)

    async def rollback(self, version_id: str, reason: str, actor: str) -> repo.VersionRow:
        """Roll back a canary (share 0), or a stable version (the last retired one is stable again)."""
        events: list[EventEnvelope] = []
        async with admin_session(self._sessions) as session:
            await repo.lock_versions(session)
            row = await self._row(session, version_id)
            if row.status == "canary":
                event = await self._end_canary(
                    session, row, "rolled_back", actor, reason or "rolled back by an admin", None
                )
                events.append(event)
            elif row.status == "stable":
                retired = await repo.list_versions(session, "retired")
                await self._move(
                    session, row, "rolled_back", 0.0, actor, reason or "rolled back by an admin", {}, False
                )
                if retired:
                    previous = max(retired, key=lambda r: r.status_changed_at)
                    await self._move(
                        session, previous, "stable", 0.0, actor, f"restored: {version_id} rolled back", {}, True
                    )
            else:
                raise Conflict(
                    f"Router version '{version_id}' is {row.status}: only a canary or the stable version rolls back.",
                    code="not_serving",
                    param="id",
                )
            row = await self._row(session, version_id)
        for event in events:
            await self._events.publish(event)
        return row

    async def end_canary(
        self, version_id: str, activated_at: datetime, outcome: Outcome, reason: str, numbers: CanaryVerdictNumbers
    ) -> repo.VersionRow | None:
        """The monitor's verdict on the canary run that started at `activated_at`; None if that run already ended."""
        async with admin_session(self._sessions) as session:
            await repo.lock_versions(session)
            row = await repo.get_version(session, version_id)
            if row is None or row.status != "canary" or row.activated_at != activated_at:
                return None
            if outcome == "rolled_back":
                event = await self._end_canary(session, row, outcome, "canary-monitor", reason, numbers)
            else:
                promoted = await self._promote(session, row, "canary-monitor", reason, numbers)
                assert promoted is not None  # noqa: S101  # a canary's promotion always has its event
                event = promoted
            row = await self._row(session, version_id)
        await self._events.publish(event)
        return row

    # ---- helpers -----------------------------------------------------------------------------------------

    async def _row(self, session: AsyncSession, version_id: str) -> repo.VersionRow:
        row = await repo.get_version(session, version_id)
        if row is None:
            raise _not_found(version_id)
        return row

    async def _stable_id(self, session: AsyncSession) -> str | None:
        stable = await repo.list_versions(session, "stable")
        return stable[0].id if stable else None

    async def _promote(
        self,
        session: AsyncSession,
        row: repo.VersionRow,
        actor: str,
        reason: str,
        numbers: CanaryVerdictNumbers | None,
    ) -> EventEnvelope | None:
        """Make `row` stable, retiring the current stable; the promotion event when `row` was the canary."""
        stable = await repo.list_versions(session, "stable")
        retired = stable[0].id if stable else None
        stable_name = retired or self._default_version
        for old in stable:
            await self._move(session, old, "retired", 0.0, actor, f"replaced by {row.id}", {}, False)
        detail = _detail(numbers)
        event = None
        if row.status == "canary":
            event = self._event("promoted", row, stable_name, retired, actor, reason, numbers)
            await self._events.stage(session, event)
        await self._move(session, row, "stable", 0.0, actor, reason, detail, True)
        return event

    async def _end_canary(
        self,
        session: AsyncSession,
        row: repo.VersionRow,
        outcome: Outcome,
        actor: str,
        reason: str,
        numbers: CanaryVerdictNumbers | None,
    ) -> EventEnvelope:
        stable_name = await self._stable_id(session) or self._default_version
        event = self._event(outcome, row, stable_name, None, actor, reason, numbers)
        await self._events.stage(session, event)
        await self._move(session, row, "rolled_back", 0.0, actor, reason, _detail(numbers), False)
        return event

    def _event(
        self,
        outcome: Outcome,
        row: repo.VersionRow,
        stable_name: str,
        retired: str | None,
        actor: str,
        reason: str,
        numbers: CanaryVerdictNumbers | None,
    ) -> EventEnvelope:
        now = self._now()
        assert row.activated_at is not None  # noqa: S101  # the table's check: a canary has activated_at
        data = RouterCanaryOutcome(
            version=row.id,
            stable_version=stable_name,
            retired_version=retired,
            share=row.share,
            trigger="admin" if numbers is None else "monitor",
            actor=actor,
            reason=reason,
            activated_at=row.activated_at,
            decided_at=now,
            window_s=None if numbers is None else numbers.window_s,
            alpha=None if numbers is None else numbers.alpha,
            comparisons=[] if numbers is None else numbers.comparisons,
            latency=None if numbers is None else numbers.latency,
        )
        return canary_event(outcome, data, activated_at=row.activated_at, at=now)

    async def _move(
        self,
        session: AsyncSession,
        row: repo.VersionRow,
        status: str,
        share: float,
        actor: str,
        reason: str,
        detail: dict[str, Any],
        activated: bool,
    ) -> repo.VersionRow:
        now = self._now()
        moved = await repo.set_status(
            session,
            row.id,
            status=status,
            share=share,
            reason=reason,
            detail=detail,
            actor=actor,
            now=now,
            activated=activated,
        )
        await repo.insert_transition(
            session,
            row.id,
            from_status=row.status,
            to_status=status,
            share=share,
            actor=actor,
            reason=reason,
            detail=detail,
            now=now,
        )
        return moved


def _detail(numbers: CanaryVerdictNumbers | None) -> dict[str, Any]:
    if numbers is None:
        return {}
    return {
        "window_s": numbers.window_s,
        "alpha": numbers.alpha,
        "comparisons": [c.model_dump(mode="json") for c in numbers.comparisons],
        "latency": None if numbers.latency is None else numbers.latency.model_dump(mode="json"),
    }


def _reason(exc: ArtifactError) -> str:
    """The loader's complaint without the cache file's path (the admin never named that file)."""
    return re.sub(r"router artifact \S+?(:| |$)", r"the artifact\1", str(exc))[:300]
