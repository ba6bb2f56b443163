"""A local write-ahead file for events that are queued in memory: a killed process loses none of them.

`DurableEmitter.emit_soon` returns before the event is durable (it waits in a batch, then for JetStream's
ack or the outbox commit). With a `WriteAheadLog`, the event is first appended to a file of this process
(one `os.write` of one line, no fsync: the bytes are in the OS page cache the moment the call returns, so
they survive the process being SIGKILLed, though not the machine losing power), and marked done once it is
durable. When every appended event is done and the file has grown, it is emptied.

Files are owned by instance, not by pid: each process picks a random instance id, its file is
`<dir>/<name>-<instance>.wal` (first line `H {"instance", "pid", "host", "started_at"}`, for people), and it
holds an exclusive `flock` on it for as long as it lives. The kernel drops that lock when the process dies,
however it dies, so "the owner is gone" is "the lock can be taken" - true even when the recorded pid is
this process's own (in a container every gateway is pid 1) or belongs to an unrelated live process.

At start, a process calls `recover(emitter)`: every `<name>-*.wal` of the directory whose lock it can take
is replayed (the events not marked done are emitted again and awaited) and deleted, still under the lock,
so two starting processes never replay the same file; a recoverer killed mid-replay leaves the file to the
next one. Replays are safe: an event keeps its id, JetStream drops a duplicate `Nats-Msg-Id`, the outbox's
event id is unique, and consumers are idempotent by event id. The directory must outlive the process (a
volume in containers) and be on a local file system shared only by processes of one kernel (flock).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiaas.events.envelope import EventEnvelope

if TYPE_CHECKING:
    from aiaas.events.emitter import DurableEmitter

__all__ = ["WriteAheadLog"]

log = logging.getLogger(__name__)

_HEADER, _EVENT, _DONE = b"H ", b"E ", b"D "
# Empty the file once it is this big and nothing in it is pending (bounded disk use under load).
_COMPACT_BYTES = 4 * 1024 * 1024


class WriteAheadLog:
    """One append-only file per process instance; `append` before queueing, `done` once durable."""

    def __init__(self, directory: Path, name: str, *, instance_id: str | None = None) -> None:
        self.directory = directory
        self.name = name
        self.instance_id = instance_id or uuid.uuid4().hex
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}-{self.instance_id}.wal"
        # Created and locked under a name recovery does not look at, then renamed into place: a recoverer
        # never sees this file unlocked (it would take it for a dead instance's and delete it).
        staging = self.path.with_name(self.path.name + ".new")
        self._fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._header = _HEADER + _header_json(self.instance_id) + b"\n"
        self._size = os.write(self._fd, self._header)
        os.rename(staging, self.path)
        self._pending = 0

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
            self._size = os.write(self._fd, self._header)
            self._pending = 0

    def close(self, *, remove: bool) -> None:
        """Close the file; `remove` it when everything appended is durable (a clean shutdown)."""
        if remove and self._pending <= 0:
            self.path.unlink(missing_ok=True)  # still under our lock: no recoverer is reading it
        os.close(self._fd)

    async def recover(self, emitter: DurableEmitter) -> int:
        """Emit again what dead instances of this name left undone; returns how many events."""
        recovered = 0
        for path in sorted(self.directory.glob(f"{self.name}-*.wal")):
            if path == self.path:
                continue
            fd = _lock_if_dead(path)
            if fd is None:
                continue
            try:
                data = _read_all(fd)  # start-up, before serving: blocking reads are fine here
                events = _undone(data)
                for event in events:
                    await emitter.emit(event)
                path.unlink()
            finally:
                os.close(fd)
            recovered += len(events)
            if events:
                log.warning(
                    "usage events recovered from a dead instance's write-ahead log",
                    extra={"events": len(events), "file": path.name, "owner": _owner(data)},
                )
        return recovered


def _header_json(instance_id: str) -> bytes:
    started = datetime.now(UTC).isoformat()
    owner = {"instance": instance_id, "pid": os.getpid(), "host": socket.gethostname(), "started_at": started}
    return json.dumps(owner, separators=(",", ":")).encode()


def _lock_if_dead(path: Path) -> int | None:
    """An fd holding `path`'s lock when its owner is gone; None while it lives or once it was recovered."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None  # recovered (or closed cleanly) meanwhile
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Locked, but perhaps only after another recoverer replayed and deleted it: then it is not this path.
        if os.fstat(fd).st_nlink == 0:
            raise FileNotFoundError(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _owner(data: bytes) -> dict[str, object] | None:
    """The header of a log, for the recovery's log line (absent in a torn or legacy file)."""
    if not data.startswith(_HEADER):
        return None
    try:
        owner = json.loads(data[len(_HEADER) : data.find(b"\n")])
    except ValueError:
        return None
    return owner if isinstance(owner, dict) else None


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
