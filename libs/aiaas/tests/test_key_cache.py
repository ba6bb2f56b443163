"""KeyCache: one lookup per key per TTL, shared by concurrent misses, unknown keys cached too."""

from __future__ import annotations

import asyncio

from aiaas.key_cache import KeyCache


class _Directory:
    """The lookup a resolver gives the cache: counts calls, answers after `delay_s`."""

    def __init__(self, known: dict[str, str], delay_s: float = 0.0) -> None:
        self.known = known
        self.delay_s = delay_s
        self.calls: list[str] = []

    async def __call__(self, key_hash: str) -> str | None:
        self.calls.append(key_hash)
        await asyncio.sleep(self.delay_s)
        return self.known.get(key_hash)


async def test_concurrent_misses_share_one_lookup_and_hits_make_none() -> None:
    directory = _Directory({"h1": "alice"}, delay_s=0.05)
    cache = KeyCache(directory, ttl_s=60)
    answers = await asyncio.gather(*(cache.get("h1") for _ in range(50)))
    assert answers == ["alice"] * 50
    assert directory.calls == ["h1"]
    assert await cache.get("h1") == "alice"
    assert directory.calls == ["h1"]


async def test_unknown_keys_are_cached_and_entries_expire_after_the_ttl() -> None:
    directory = _Directory({})
    cache = KeyCache(directory, ttl_s=0.1)
    assert await cache.get("nobody") is None
    assert await cache.get("nobody") is None
    assert directory.calls == ["nobody"]
    directory.known["nobody"] = "bob"  # e.g. a key created after the first miss
    await asyncio.sleep(0.15)
    assert await cache.get("nobody") == "bob"
    assert directory.calls == ["nobody", "nobody"]


async def test_forget_drops_one_key_or_all() -> None:
    directory = _Directory({"a": "A", "b": "B"})
    cache = KeyCache(directory, ttl_s=60)
    await cache.get("a")
    await cache.get("b")
    cache.forget("a")
    await cache.get("a")
    await cache.get("b")
    assert directory.calls == ["a", "b", "a"]
    cache.forget()
    await cache.get("b")
    assert directory.calls == ["a", "b", "a", "b"]


async def test_a_cancelled_waiter_does_not_cancel_the_shared_lookup() -> None:
    directory = _Directory({"h": "carol"}, delay_s=0.1)
    cache = KeyCache(directory, ttl_s=60)
    impatient = asyncio.ensure_future(cache.get("h"))
    patient = asyncio.ensure_future(cache.get("h"))
    await asyncio.sleep(0.02)
    impatient.cancel()
    assert await patient == "carol"
    assert directory.calls == ["h"]


async def test_a_full_cache_starts_over_instead_of_growing() -> None:
    directory = _Directory({str(i): str(i) for i in range(5)})
    cache = KeyCache(directory, ttl_s=60, max_entries=3)
    for i in range(5):
        await cache.get(str(i))
    assert len(cache._entries) <= 3
