"""Dead-letter queue CLI: `python -m aiaas.events.dlq_cli list|replay [--seq N ...] [--all]`.

`replay` republishes a dead-lettered message to its original subject and
removes it from the DLQ; the consumer's idempotency by event id makes a replay
of an event that was in fact stored harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from aiaas.events.publisher import EventPublisher
from aiaas.settings import ServiceSettings

__all__ = ["list_dead_letters", "replay", "main"]

_DLQ = "DLQ"


async def list_dead_letters(js: JetStreamContext) -> list[dict[str, object]]:
    info = await js.stream_info(_DLQ)
    out: list[dict[str, object]] = []
    if not info.state.messages:
        return out
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(_DLQ, seq)
        except NotFoundError:
            continue  # already replayed or deleted
        headers = msg.headers or {}
        out.append(
            {
                "seq": seq,
                "subject": msg.subject,
                "original_subject": headers.get("Aiaas-Original-Subject"),
                "original_seq": headers.get("Aiaas-Original-Seq"),
                "deliveries": headers.get("Aiaas-Deliveries"),
                "error": headers.get("Aiaas-Error"),
            }
        )
    return out


async def replay(js: JetStreamContext, seqs: list[int]) -> int:
    """Republish the given DLQ messages to their original subjects; returns how many."""
    publisher = EventPublisher(js)
    replayed = 0
    for seq in seqs:
        msg = await js.get_msg(_DLQ, seq)
        headers = msg.headers or {}
        subject = headers.get("Aiaas-Original-Subject")
        if not subject:
            raise ValueError(f"DLQ message {seq} has no original subject")
        await publisher.publish_raw(
            subject,
            msg.data or b"",
            {"Nats-Msg-Id": f"replay-{seq}-{time.time_ns()}", "Aiaas-Replayed-From": str(seq)},
        )
        await js.delete_msg(_DLQ, seq)
        replayed += 1
    return replayed


async def _main(args: argparse.Namespace) -> int:
    nc = await nats.connect(ServiceSettings().nats_url)
    try:
        js = nc.jetstream()
        if args.command == "list":
            print(json.dumps(await list_dead_letters(js), indent=2))
            return 0
        seqs = [int(str(item["seq"])) for item in await list_dead_letters(js)] if args.all else args.seq
        if not seqs:
            print("nothing to replay", file=sys.stderr)
            return 1
        print(f"replayed {await replay(js, seqs)} message(s)")
        return 0
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiaas-dlq", description="Inspect and replay dead-lettered events")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    rep = sub.add_parser("replay")
    rep.add_argument("--seq", type=int, action="append", default=[])
    rep.add_argument("--all", action="store_true")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
