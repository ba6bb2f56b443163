"""The semantic cache's second stage: is a cached question the same question as the incoming one?

Cosine similarity of sentence embeddings ranks candidates but cannot tell "turn on two-factor" from "turn off
two-factor" (cosine > 0.9). `verify(query, candidate, cosine)` looks at the pair's words: hard rules reject a pair
whose words flip the meaning (an antonym swap, a negation on one side only, a different number, a swapped key noun of
one kind such as password/username or order/subscription, a from/to swap); a small logistic model over cosine and word
overlap features decides the rest. Its coefficients are fitted offline on QQP's public half (`evals/cache`, see
`coefficients.py`) and committed; serving uses the standard library only (tens of microseconds a pair).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from aiaas.semcache.coefficients import ACCEPT_PROBABILITY, AMBIGUITY_MARGIN, COEFFICIENTS, FEATURES, THRESHOLDS
from aiaas.semcache.lexicon import ANTONYMS, FRAMING, NEGATIONS, PHRASES, SLOT_CLASSES, STOPWORDS, SYNONYMS

__all__ = [
    "DEFAULT_THRESHOLD",
    "FALLBACK_THRESHOLD",
    "PairFeatures",
    "choose",
    "default_threshold",
    "features",
    "probability",
    "verify",
]

# Cosine floor per embedder name (`aiaas_embedder` `emb.name`): candidates below it are never verified.
DEFAULT_THRESHOLD: dict[str, float] = dict(THRESHOLDS)
# For an embedder this package has not been evaluated with: cosine alone was measured safe at 0.92 on MiniLM.
FALLBACK_THRESHOLD = 0.92

_CONTRACTIONS = (("can't", "can not"), ("won't", "will not"), ("cannot", "can not"), ("n't", " not"))
_NUMERIC = re.compile(r"\d+(?:[.,]\d+)*(?:st|nd|rd|th)?")
# "c++"/"c#" keep their signs; "1+1" is two numbers and a plus (see _ARITHMETIC).
_WORD = re.compile(r"[a-z][a-z0-9]*[+#]+|[a-z0-9]+(?:[.'][a-z0-9]+)*")
_ARITHMETIC = re.compile(r"(?<=\d)\s*\+\s*(?=\d)")
_NUMBER_WORDS = {
    "zero": "0",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "thirty": "30",
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
}
_PHRASE_FIRST: dict[str, list[tuple[str, ...]]] = {}
for _phrase in sorted(PHRASES, key=lambda p: -len(p.split())):
    _parts = tuple(_phrase.split())
    _PHRASE_FIRST.setdefault(_parts[0], []).append(_parts)
_ANTONYM_PAIRS: frozenset[tuple[str, str]] = frozenset(ANTONYMS) | frozenset((b, a) for a, b in ANTONYMS)
_SLOT_OF: dict[str, str] = {}
for _kind, _members in SLOT_CLASSES.items():
    for _member in _members:
        _SLOT_OF.setdefault(_member, _kind)
# Kinds where a member on one side only (not a swap) still changes the question: "my account" vs "my son's account".
_EXTRA_SENSITIVE = frozenset({"person", "platform", "document", "language", "channel"})
# Actions that undo or stop something: on one side only (the other naming no action), the request is reversed.
_UNDO = frozenset({"disable", "cancel", "delete", "uninstall", "downgrade", "unsubscribe", "signout", "pause", "block"})
# Members too vague to change a question by being on one side only.
_VAGUE = frozenset({"self", "personal", "third_person"})
# Rules that read word order or a word on one side only are trusted on short questions only (tokens, each side).
_SHORT = 24
# Below this cosine a swapped key word on a short question is a different question; above it, a rewording.
SUBSTITUTION_CEILING = 0.95
SUBSTITUTION_TOKENS = 12
# A key word on one side only of a short question (<= QUALIFIER_TOKENS) below this cosine narrows the question.
QUALIFIER_CEILING = 0.95
QUALIFIER_TOKENS = 10
_UN_PREFIXES = frozenset({"un", "dis", "de", "non", "in", "im", "il", "ir"})
_DIRECTIONAL = ("from", "to", "into", "onto", "than", "vs", "versus", "how_many", "how_much")
_QUANTIFIERS = frozenset({"how_many", "how_much"})
_PRONOUNS = frozenset({"self", "other"})
_WH = ("why", "how_much", "how_many", "how_long", "how_often", "how_far", "how_old", "when", "where", "who")


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")):
        return word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One question's words: canonical tokens in order, the key (non-stopword) set, any negation, numbers, wh-word."""

    tokens: tuple[str, ...]
    keys: frozenset[str]
    negated: bool
    numbers: frozenset[str]
    wh: str


@lru_cache(maxsize=65536)
def _canonical(word: str) -> str:
    word = _NUMBER_WORDS.get(word, word)
    word = SYNONYMS.get(word, word)
    stemmed = _stem(word)
    return SYNONYMS.get(stemmed, stemmed)


@lru_cache(maxsize=4096)
def _parse(text: str) -> _Parsed:
    lowered = text.lower().replace("’", "'")
    for contraction, full in _CONTRACTIONS:
        lowered = lowered.replace(contraction, full)
    raw = _WORD.findall(_ARITHMETIC.sub(" plus ", lowered))
    # A possessive drops its 's; any other apostrophe inside a word is spelling ("k'8s" is "k8s").
    words = [w[:-2] if w.endswith("'s") else w if w in STOPWORDS else w.replace("'", "") for w in raw]
    tokens: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        for parts in _PHRASE_FIRST.get(word, ()):
            if tuple(words[i : i + len(parts)]) == parts:
                word = "_".join(parts)
                i += len(parts)
                break
        else:
            i += 1
        tokens.append(_canonical(word))
    negated = any(t in NEGATIONS for t in tokens)
    keys = frozenset(t for t in tokens if t not in STOPWORDS and t not in NEGATIONS)
    numbers = frozenset(t for t in tokens if _NUMERIC.fullmatch(t))
    wh = next((t for t in tokens[:3] if t in _WH), "")
    return _Parsed(tuple(tokens), keys, negated, numbers, wh)


def _is_antonym(a: str, b: str) -> bool:
    if (a, b) in _ANTONYM_PAIRS:
        return True
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return len(shorter) >= 3 and longer.endswith(shorter) and longer[: len(longer) - len(shorter)] in _UN_PREFIXES


def _same_word(a: str, b: str) -> bool:
    """Inflections of one word ("utilized"/"utilize", "crashing"/"crash"): a shared stem of 4+ letters."""
    stem = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        stem += 1
    return stem >= 4 and stem >= min(len(a), len(b)) - 3


def _substituted(only_a: frozenset[str], only_b: frozenset[str]) -> bool:
    """Exactly one key word on each side that the other lacks (not an inflection of it): one thing swapped for
    another, as in "open on Sundays" vs "open on Saturdays" or "store" vs "pharmacy"."""
    left = {x for x in only_a if not any(_same_word(x, y) for y in only_b)}
    right = {y for y in only_b if not any(_same_word(x, y) for x in only_a)}
    return len(left) == 1 and len(right) == 1


def _directions(tokens: Sequence[str]) -> list[tuple[str, str]]:
    """(preposition, object) for each directional preposition: its object is the first key word in three tokens."""
    found: list[tuple[str, str]] = []
    for i, token in enumerate(tokens[:-1]):
        if token in _DIRECTIONAL:
            following = next((t for t in tokens[i + 1 : i + 4] if t not in STOPWORDS and t not in _PRONOUNS), "")
            if following:
                found.append((token, following))
    return found


def _direction_swapped(a: Sequence[str], b: Sequence[str], short: bool) -> bool:
    """ "from X to Y" vs "from Y to X", or "to X" vs "from X": the same words with the direction turned round."""
    da, db = set(_directions(a)), set(_directions(b))
    for prep, x in da - db:
        for other, y in da - db:
            if prep != other and x != y and (prep, y) in db and (other, x) in db:
                return True
    objects_a: dict[str, set[str]] = {}
    objects_b: dict[str, set[str]] = {}
    for prep, obj in da:
        objects_a.setdefault(obj, set()).add(prep)
    for prep, obj in db:
        objects_b.setdefault(obj, set()).add(prep)
    for obj in objects_a.keys() & objects_b.keys() if short else ():
        pa, pb = objects_a[obj], objects_b[obj]
        if pa != pb and "from" in pa ^ pb:
            return True
    # "how many accounts on one device" vs "how many devices on one account": what is counted changed.
    counted_a = {obj for prep, obj in da if prep in _QUANTIFIERS}
    counted_b = {obj for prep, obj in db if prep in _QUANTIFIERS}
    return short and bool(counted_a) and bool(counted_b) and not counted_a & counted_b


@dataclass(frozen=True, slots=True)
class PairFeatures:
    """The pair's features (`as_vector` is what the logistic model sees) and the hard rule that fired, if any."""

    cosine: float
    jaccard: float
    only_min: int
    only_max: int
    length_ratio: float
    negation: bool
    antonym: bool
    slot_swap: bool
    slot_extra: bool
    number: bool
    wh: bool
    veto: str

    def as_vector(self) -> tuple[float, ...]:
        return (
            1.0,
            self.cosine,
            self.jaccard,
            min(self.only_min, 3) / 3.0,
            min(self.only_max, 6) / 6.0,
            self.length_ratio,
            float(self.negation),
            float(self.antonym),
            float(self.slot_swap),
            float(self.slot_extra),
            float(self.number),
            float(self.wh),
        )


def features(query: str, candidate: str, cosine: float) -> PairFeatures:
    a, b = _parse(query), _parse(candidate)
    only_a, only_b = a.keys - b.keys, b.keys - a.keys
    union = a.keys | b.keys
    jaccard = len(a.keys & b.keys) / len(union) if union else 1.0
    antonym = any(_is_antonym(x, y) for x in only_a for y in only_b)
    kinds_a: dict[str, set[str]] = {}
    kinds_b: dict[str, set[str]] = {}
    for token in a.keys:
        if token in _SLOT_OF:
            kinds_a.setdefault(_SLOT_OF[token], set()).add(token)
    for token in b.keys:
        if token in _SLOT_OF:
            kinds_b.setdefault(_SLOT_OF[token], set()).add(token)
    slot_swap = False
    slot_extra = False
    for kind in kinds_a.keys() | kinds_b.keys():
        ma, mb = kinds_a.get(kind, set()), kinds_b.get(kind, set())
        if ma - mb and mb - ma:
            slot_swap = True
        elif kind in _EXTRA_SENSITIVE and (ma ^ mb) - _VAGUE:
            slot_extra = True
        elif kind == "action" and (ma ^ mb) & _UNDO:
            slot_extra = True
    short = max(len(a.tokens), len(b.tokens)) <= _SHORT
    # A framing word for another ("in Python" vs "sample program") swaps nothing that is asked.
    substituted = _substituted(only_a, only_b) and bool(only_a - FRAMING) and bool(only_b - FRAMING)
    # A short question asked with a qualifier the other lacks ("for free", "abroad", "quickly") asks something narrower.
    asked = query.rstrip().endswith("?") or candidate.rstrip().endswith("?")
    # Framing words ("explain", "the term", "what does ... mean", "me") on one side ask the same thing.
    extra = (only_a | only_b) - FRAMING
    qualified = (
        asked and bool(only_a) != bool(only_b) and bool(extra) and max(len(a.tokens), len(b.tokens)) <= QUALIFIER_TOKENS
    )
    number = a.numbers != b.numbers
    wh = a.wh != b.wh
    negation = a.negated != b.negated
    direction = _direction_swapped(a.tokens, b.tokens, short)
    veto = ""
    if antonym:
        veto = "antonym"
    elif number and a.numbers and b.numbers:
        veto = "number"
    elif not short:
        veto = ""
    elif negation:
        veto = "negation"
    elif slot_swap:
        veto = "slot_swap"
    elif slot_extra:
        veto = "slot_extra"
    elif substituted and cosine < SUBSTITUTION_CEILING and max(len(a.tokens), len(b.tokens)) <= SUBSTITUTION_TOKENS:
        veto = "substitution"
    elif qualified and cosine < QUALIFIER_CEILING:
        veto = "qualifier"
    elif direction:
        veto = "direction"
    elif wh and (a.wh and b.wh):
        veto = "question_kind"
    la, lb = len(a.tokens), len(b.tokens)
    return PairFeatures(
        cosine=cosine,
        jaccard=jaccard,
        only_min=min(len(only_a), len(only_b)),
        only_max=max(len(only_a), len(only_b)),
        length_ratio=min(la, lb) / max(la, lb) if max(la, lb) else 1.0,
        negation=negation,
        antonym=antonym,
        slot_swap=slot_swap,
        slot_extra=slot_extra,
        number=number,
        wh=wh,
        veto=veto,
    )


def probability(pair: PairFeatures) -> float:
    """P(same question) from the committed logistic model (hard rules not applied)."""
    z = sum(w * x for w, x in zip(COEFFICIENTS, pair.as_vector(), strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def verify(query: str, candidate: str, cosine: float) -> bool:
    """True when `candidate` (a cached question) may answer `query`: no hard rule fires and P >= the cut-off."""
    pair = features(query, candidate, cosine)
    return not pair.veto and probability(pair) >= ACCEPT_PROBABILITY


def default_threshold(embedder_name: str) -> float:
    """The cosine floor for candidates of this embedder (`FALLBACK_THRESHOLD` for one never evaluated)."""
    return DEFAULT_THRESHOLD.get(embedder_name, FALLBACK_THRESHOLD)


def choose(
    query: str,
    candidates: Sequence[tuple[str, float]],
    threshold: float,
    margin: float | None = None,
    *,
    to_nearest: Sequence[float] | None = None,
) -> int | None:
    """Index of the candidate that answers `query`, or None. `candidates` = (cached question, cosine), best first.

    Only the nearest cached question can answer: it must reach `threshold` and pass `verify`, and no rival, a
    candidate holding a different question, may lie within `margin` (default AMBIGUITY_MARGIN) of it: then the query
    sits between two cached questions and either answer is a coin toss, so a miss. A vetoed nearest question is a miss
    too, even when the next one is the same question as the query: a different question is at least as close.

    Between questions, two kinds of close candidate are no rival: one the verifier rules out for the query (a
    different question, so never a coin toss), and, given `to_nearest` (each candidate's cosine to the nearest one,
    the nearest's own first), one that passes `verify` against the nearest entry: a cache that stored a popular
    question's paraphrases holds several entries close to the query, all one question.
    """
    if not candidates:
        return None
    text, cosine = candidates[0]
    if cosine < threshold or not verify(query, text, cosine):
        return None
    gap = AMBIGUITY_MARGIN if margin is None else margin
    for position, (rival, other) in enumerate(candidates[1:], start=1):
        if rival == text or cosine - other >= gap:
            continue
        if _questions(query, text, rival) and (
            not verify(query, rival, other)
            or (to_nearest is not None and _rewording(text, rival, to_nearest[position], threshold))
        ):
            continue
        return None
    return 0


def _questions(*texts: str) -> bool:
    """Are these all questions? The hard rules that make `verify` safe are written for questions; statements near
    each other often say different things (the GPTCache mock's origins), so between statements any rival counts."""
    return all(text.rstrip().endswith("?") for text in texts)


def _rewording(nearest: str, other: str, cosine: float, threshold: float) -> bool:
    """Is the cached question `other` the nearest one reworded (so both hold one answer)?"""
    return cosine >= threshold and verify(nearest, other, cosine)


if len(FEATURES) != len(COEFFICIENTS):  # a hand-edited coefficients.py: fail at import, not on a request
    raise RuntimeError(f"coefficients.py has {len(COEFFICIENTS)} coefficients for {len(FEATURES)} features")
