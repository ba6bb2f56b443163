"""Deterministic reply text and the simulator's tokenizer.

Tokenizer: a token is a run of word characters (`\\w+`) or one non-space,
non-word character; whitespace is free. `count_tokens("Hello, world!") == 4`.

Prompt accounting (both APIs): every message costs `MESSAGE_OVERHEAD_TOKENS`
plus the tokens of its text (text parts, tool-call names/arguments, tool
results); a reply costs `REPLY_PRIMING_TOKENS` once; tool definitions cost the
tokens of their compact JSON. A system prompt counts as one message.

A reply is a list of pieces, each exactly one token (" word", "," or "."), so
`count_tokens("".join(pieces)) == len(pieces)` before stop-sequence truncation.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "REPLY_PRIMING_TOKENS",
    "Reply",
    "build_reply",
    "count_tokens",
    "prompt_tokens",
    "reply_from_text",
    "reply_length",
    "request_seed",
    "split_tokens",
    "words",
]

MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_PIECE_RE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+$")

_WORDS = (
    "amber anchor apple arrow atlas autumn balance banner beacon bridge brook canyon carbon cedar "
    "channel circle cloud cobalt comet coral cotton crystal current dawn delta desert drift eagle "
    "echo ember engine field flint forest fountain galaxy garden glacier granite harbor harvest "
    "horizon island ivory jungle kernel lantern lattice leaf legend lemon linen lumen marble meadow "
    "meteor mirror module motion mountain nebula needle night oasis ocean orbit orchard origin "
    "paper pattern pebble pepper pilot planet prairie prism pulse quartz quiet radar rain raven "
    "reef ribbon river rocket saddle salt signal silver sketch solar spark spiral spring stone "
    "storm summit thunder timber token tower trail valley vector velvet vessel violet voyage "
    "wander willow window winter wonder yarn zenith zephyr builds carries gathers holds moves "
    "opens reaches shapes turns follows brings finds keeps makes shows lifts joins bright calm "
    "clear deep early gentle golden hidden little quick steady silent warm wide wild distant "
    "the a of and with across under over near beyond through"
).split()


_SPACED_WORDS = [" " + word for word in _WORDS]


def count_tokens(text: str) -> int:
    """Number of simulator tokens in `text` (word runs and single punctuation marks)."""
    return len(_TOKEN_RE.findall(text))


def split_tokens(text: str) -> list[str]:
    """Split `text` into one-token pieces (leading whitespace kept) that join back to `text`."""
    return _PIECE_RE.findall(text)


def prompt_tokens(message_texts: Iterable[str], tools_json: bytes | None = None) -> int:
    """Prompt tokens for a conversation given each message's text and the tools' JSON."""
    total = REPLY_PRIMING_TOKENS
    for text in message_texts:
        total += MESSAGE_OVERHEAD_TOKENS + count_tokens(text)
    if tools_json:
        total += count_tokens(tools_json.decode())
    return total


def request_seed(*parts: Any) -> int:
    """Stable 64-bit seed from JSON-serialisable request parts (dict keys sorted)."""
    digest = hashlib.blake2b(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def reply_length(seed: int, min_tokens: int, max_tokens: int) -> int:
    """Deterministic reply length in [min_tokens, max_tokens] chosen by the seed."""
    low, high = sorted((max(1, min_tokens), max(1, max_tokens)))
    return low + seed % (high - low + 1)


def _generate_pieces(seed: int, length: int) -> list[str]:
    """`length` one-token pieces: capitalised first word, commas now and then, final period.

    Randomness comes from one SHAKE-128 digest (3 bytes per piece), which is much
    cheaper than a seeded `random.Random` on this hot path.
    """
    data = hashlib.shake_128(seed.to_bytes(8, "big")).digest(3 * length)
    count = len(_WORDS)
    pieces = [_WORDS[(data[0] << 8 | data[1]) % count].capitalize()]
    for i in range(1, length - 1):
        offset = 3 * i
        if data[offset + 2] < 26 and pieces[-1] != "," and i < length - 2:  # about one in ten
            pieces.append(",")
        else:
            pieces.append(_SPACED_WORDS[(data[offset] << 8 | data[offset + 1]) % count])
    if length > 1:
        pieces.append(".")
    return pieces


@dataclass(frozen=True, slots=True)
class Reply:
    """A generated reply: streamed pieces, full text, why it ended and its token count."""

    pieces: list[str]
    text: str
    finish: str  # "stop" (natural end), "length" (token cap) or "stop_sequence"
    stop_sequence: str | None
    completion_tokens: int


def build_reply(seed: int, length: int, max_tokens: int | None, stop: Sequence[str]) -> Reply:
    """Generate the reply for `seed`, capped at `max_tokens` and cut before the first stop sequence."""
    return _cap_and_cut(_generate_pieces(seed, length), max_tokens, stop)


def reply_from_text(text: str, max_tokens: int | None, stop: Sequence[str]) -> Reply:
    """A fixed `text` as a reply (one piece per token), capped and cut like a generated one."""
    return _cap_and_cut(split_tokens(text), max_tokens, stop)


def _cap_and_cut(pieces: list[str], max_tokens: int | None, stop: Sequence[str]) -> Reply:
    """`pieces` capped at `max_tokens` and cut before the first stop sequence."""
    capped = pieces if max_tokens is None else pieces[:max_tokens]
    text = "".join(capped)
    cut, matched = len(text), None
    for sequence in stop:
        index = text.find(sequence) if sequence else -1
        if 0 <= index < cut:
            cut, matched = index, sequence
    if matched is not None:
        capped = _truncate_pieces(capped, cut)
        text = text[:cut]
        finish = "stop_sequence"
    else:
        finish = "length" if len(capped) < len(pieces) else "stop"
    return Reply(capped, text, finish, matched, count_tokens(text))


def _truncate_pieces(pieces: list[str], cut: int) -> list[str]:
    """Pieces covering the first `cut` characters; the last one may be partial."""
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) <= cut:
            kept.append(piece)
            used += len(piece)
            continue
        if cut > used:
            kept.append(piece[: cut - used])
        break
    return kept


def words(seed: int, count: int) -> list[str]:
    """`count` deterministic words for `seed` (used for fake tool arguments)."""
    rng = random.Random(seed)
    return [rng.choice(_WORDS) for _ in range(count)]
