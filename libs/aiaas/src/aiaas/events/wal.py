"""A local write-ahead file for events that are queued in memory: a killed process loses none of them.

`DurableEmitter.emit_soon` returns before the event is durable (it waits in a batch, then for JetStream's
ack or the outbox commit). With a `WriteAheadLog`, the event is first appended to a file of this process
(`<dir>/<name>-<pid>.wal`, one `os.write` of one line, no fsync: the bytes are in the OS page cache the
moment the call returns, so they survive the process being SIGKILLed, though not the machine losing
power), and marked done once it is durable. When every appended event is done the file is emptied.

At start, a process calls `recover(emitter)`: every `.wal` file of a process that no longer runs is
claimed (renamed, so two starting processes never replay the same file), the events in it that were not
marked done are emitted again and awaited, and the file is deleted. Replays are safe: an event keeps its
id, JetStream drops a duplicate `Nats-Msg-Id`, the outbox's event id is unique, and consumers are
idempotent by event id.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from aiaas.events.envelope import EventEnvelope

if TYPE_CHECKING:
    from aiaas.events.emitter import DurableEmitter

__all__ = ["WriteAheadLog"]

log = logging.getLogger(__name__)

_EVENT, _DONE = b"E ", b"D "
# Empty the file once it is this big and nothing in it is pending (bounded disk use under load).
_COMPACT_BYTES = 4 * 1024 * 1024


class WriteAheadLog:
    """One append-only file per process; `append` before queueing, `done` once durable."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}-{os.getpid()}.wal"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._pending = 0
        self._size = os.fstat(self._fd).st_size

    def append(self, event: EventEnvelope) -> bytes:
        """Write the event ahead; returns its JSON so the publish need not serialize it again."""
        payload = event.to_json()
        self._size += os.write(self._fd, _EVENT + payload + b"\n")
        self._pending += 1
        return payload

    def done(self, events: list[EventEnvelope]) -> None:
        if not events:
            return
        line = _DONE + b" ".join(str(event.id).encode() for event in events) + b"\n"
        self._size += os.write(self._fd, line)
        self._pending -= len(events)
        if self._pending <= 0 and self._size >= _COMPACT_BYTES:
            os.ftruncate(self._fd, 0)
            self._size = 0
            self._pending = 0

    def close(self, *, remove: bool) -> None:
        """Close the file; `remove` it when everything appended is durable (a clean shutdown)."""
        os.close(self._fd)
        if remove and self._pending <= 0:
            self.path.unlink(missing_ok=True)

    async def recover(self, emitter: DurableEmitter) -> int:
        """Emit again what dead processes of this name left undone; returns how many events."""
        recovered = 0
        for path in sorted(self.directory.glob(f"{self.name}-*.wal")):
            pid = _pid_of(path, self.name)
            if pid is None or pid == os.getpid() or _alive(pid):
                continue
            claimed = path.with_name(f"{path.name}.recovering-{os.getpid()}")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another process claimed it first
            events = _undone(claimed.read_bytes())
            for event in events:
                await emitter.emit(event)
            claimed.unlink()
            recovered += len(events)
            if events:
                log.warning(
                    "usage events recovered from a dead process's write-ahead log",
                    extra={"events": len(events), "file": path.name},
                )
        return recovered


def _pid_of(path: Path, name: str) -> int | None:
    suffix = path.name[len(name) + 1 : -len(".wal")]
    return int(suffix) if suffix.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds that pid
    return True


def _undone(data: bytes) -> list[EventEnvelope]:
    """Events appended and never marked done; a torn last line (the kill mid-write) is skipped."""
    events: dict[str, EventEnvelope] = {}
    done: set[str] = set()
    for line in data.split(b"\n"):
        if line.startswith(_EVENT):
            try:
                event = EventEnvelope.from_json(line[len(_EVENT) :])
            except ValueError:
                log.warning("skipping a torn write-ahead log line")
                continue
            events[str(event.id)] = event
        elif line.startswith(_DONE):
            done.update(part.decode() for part in line[len(_DONE) :].split())
    return [event for key, event in events.items() if key not in done]
