"""Flag values, evaluation (precedence, stable percentage buckets, weights) and FlagClient on a real NATS KV."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest
from nats.aio.client import Client as NatsClient

from aiaas.flags import Flag, FlagClient, FlagValueError, Variant, bucket_of, evaluate, validate_value

T1, T2 = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.mark.parametrize(
    ("flag_type", "value", "kwargs"),
    [
        ("boolean", 1, {}),
        ("boolean", "true", {}),
        ("percentage", 101, {}),
        ("percentage", -1, {}),
        ("percentage", True, {}),
        ("percentage", 50.5, {}),
        ("integer", 1.0, {}),
        ("integer", 5, {"min_value": 10}),
        ("integer", 50, {"max_value": 10}),
        ("integer", 2**64, {}),
        ("variant", "c", {"variants": (Variant("a"), Variant("b"))}),
        ("variant", 1, {"variants": (Variant("a"),)}),
        ("string_list", "a", {}),
        ("string_list", ["a", 1], {}),
        ("string_list", [""], {}),
        ("nonsense", True, {}),
    ],
)
def test_bad_values_are_rejected(flag_type, value, kwargs) -> None:
    with pytest.raises(FlagValueError):
        validate_value(flag_type, value, **kwargs)


def test_good_values_pass_through() -> None:
    assert validate_value("boolean", False) is False
    assert validate_value("percentage", 100) == 100
    assert validate_value("integer", 7, min_value=0, max_value=10) == 7
    assert validate_value("variant", "b", variants=(Variant("a"), Variant("b"))) == "b"
    assert validate_value("string_list", ["gpt-4o", "claude"]) == ["gpt-4o", "claude"]


def test_precedence_tenant_over_plan_over_default() -> None:
    flag = Flag(key="f", type="integer", default=1, version=1, plans={"pro": 2}, tenants={T1: 3})
    assert evaluate(flag, T1, plan="pro") == 3
    assert evaluate(flag, uuid.UUID(T1), plan=None) == 3  # a UUID object finds the same override
    assert evaluate(flag, T2, plan="pro") == 2
    assert evaluate(flag, T2, plan="free") == 1
    assert evaluate(flag, None) == 1


def test_percentage_is_stable_and_close_to_the_rollout() -> None:
    flag = Flag(key="new_router", type="percentage", default=30, version=1)
    tenants = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(1000)]
    first = [evaluate(flag, t) for t in tenants]
    assert first == [evaluate(flag, t) for t in tenants]  # same answer on every call
    on = sum(first)
    assert 250 <= on <= 350, on
    assert all(evaluate(flag, t) == (bucket_of("new_router", t) < 3000) for t in tenants[:50])
    assert evaluate(Flag(key="x", type="percentage", default=0, version=1), T1) is False
    assert evaluate(Flag(key="x", type="percentage", default=100, version=1), T1) is True
    # No tenant: the user id is the unit; no unit at all: only 100 % is on.
    assert evaluate(flag, None, user_id="u1") == (bucket_of("new_router", "u1") < 3000)
    assert evaluate(flag, None) is False
    # A tenant override of 100 turns it on for that tenant whatever its bucket.
    forced = Flag(key="new_router", type="percentage", default=0, version=1, tenants={T1: 100})
    assert evaluate(forced, T1) is True
    assert evaluate(forced, T2) is False


def test_weighted_variants_split_by_the_stable_bucket() -> None:
    flag = Flag(
        key="router_algo",
        type="variant",
        default="a",
        version=1,
        variants=(Variant("a", 80), Variant("b", 20)),
        tenants={T1: "b"},
    )
    picks = [evaluate(flag, str(uuid.UUID(int=i + 11))) for i in range(1000)]
    assert 150 <= picks.count("b") <= 250, picks.count("b")
    assert picks == [evaluate(flag, str(uuid.UUID(int=i + 11))) for i in range(1000)]
    assert evaluate(flag, T1) == "b"  # an override wins over the split
    unweighted = Flag(key="v", type="variant", default="a", version=1, variants=(Variant("a"), Variant("b")))
    assert evaluate(unweighted, T2) == "a"


def test_document_round_trip_and_rejects_mismatched_overrides() -> None:
    flag = Flag(
        key="caps",
        type="integer",
        default=0,
        version=9,
        min_value=0,
        max_value=100,
        plans={"pro": 50},
        tenants={T1.upper(): 10},
    )
    parsed = Flag.from_json(orjson.loads(orjson.dumps(flag.to_json())))
    assert parsed.tenants == {T1: 10}  # tenant ids are normalised to lower case
    assert (parsed.default, parsed.version, parsed.plans, parsed.max_value) == (0, 9, {"pro": 50}, 100)
    bad = {**flag.to_json(), "plans": {"pro": 500}}
    with pytest.raises(FlagValueError):
        Flag.from_json(bad)


async def _bucket(nats_client: NatsClient, name: str):
    js = nats_client.jetstream()
    return await js.create_key_value(bucket=name, history=5)


def _doc(key: str, version: int, default, flag_type: str = "boolean", tenants=None) -> bytes:
    flag = Flag(key=key, type=flag_type, default=default, version=version, tenants=tenants or {})
    return orjson.dumps(flag.to_json())


async def _until(predicate, timeout_s: float = 2.0) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout_s:
            raise AssertionError("condition not met")
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


async def test_client_loads_watches_and_never_raises(nats_client: NatsClient, infra_urls) -> None:
    name = f"flags_test_{uuid.uuid4().hex[:10]}"
    kv = await _bucket(nats_client, name)
    try:
        await kv.put("streaming_enabled", _doc("streaming_enabled", 5, True, tenants={T1: False}))
        await kv.put("max_tokens_cap", _doc("max_tokens_cap", 6, 512, "integer"))
        client = await FlagClient(infra_urls.nats_url, bucket=name).start()
        try:
            assert client.live and client.cache_age_s() == 0.0
            assert client.is_enabled("streaming_enabled", T1, default=True) is False
            assert client.is_enabled("streaming_enabled", T2, default=False) is True
            assert client.get_int("max_tokens_cap", T2, default=0) == 512
            # Unknown flags and flags of another type give the caller's default.
            assert client.is_enabled("nope", T1, default=True) is True
            assert client.get_int("streaming_enabled", T1, default=-1) == -1
            assert client.get_list("max_tokens_cap", T1, default=["x"]) == ["x"]
            assert client.get_variant("nope", T1, default="blue") == "blue"

            await kv.put("streaming_enabled", _doc("streaming_enabled", 7, True))
            latency = await _until(lambda: client.is_enabled("streaming_enabled", T1, default=False))
            print(f"\nKV put -> client cache: {latency * 1000:.1f} ms")
            assert latency < 1.0
            # An older document (a replay) never replaces a newer one; a malformed one is ignored.
            await kv.put("streaming_enabled", _doc("streaming_enabled", 3, False))
            await kv.put("max_tokens_cap", b"{not json")
            await kv.put("marker", _doc("marker", 8, True))
            await _until(lambda: client.get("marker") is not None)
            assert client.get("streaming_enabled").version == 7
            assert client.get_int("max_tokens_cap", T2, default=0) == 512
            await kv.delete("max_tokens_cap")
            await _until(lambda: client.get("max_tokens_cap") is None)
            assert client.get_int("max_tokens_cap", T2, default=0) == 0
        finally:
            await client.close()
    finally:
        await nats_client.jetstream().delete_key_value(name)


async def test_client_without_nats_serves_defaults_and_does_not_raise() -> None:
    client = FlagClient("nats://127.0.0.1:1", retry_s=0.1)
    started = time.perf_counter()
    await client.start(start_timeout_s=0.5)
    try:
        assert time.perf_counter() - started < 2.0
        assert client.live is False and client.cache_age_s() > 0
        assert client.is_enabled("streaming_enabled", T1, default=True) is True
        assert client.get_list("model_allowlist", T1, default=[]) == []
    finally:
        await client.close()


async def test_client_waits_for_a_bucket_that_does_not_exist_yet(nats_client: NatsClient, infra_urls) -> None:
    name = f"flags_test_{uuid.uuid4().hex[:10]}"
    client = await FlagClient(infra_urls.nats_url, bucket=name, retry_s=0.1).start(start_timeout_s=0.3)
    try:
        assert client.keys() == [] and not client.live
        kv = await _bucket(nats_client, name)
        await kv.put("realtime_enabled", _doc("realtime_enabled", 1, False))
        await _until(lambda: client.get("realtime_enabled") is not None, 5.0)
        assert client.is_enabled("realtime_enabled", T1, default=True) is False and client.live
    finally:
        await client.close()
        await nats_client.jetstream().delete_key_value(name)


async def test_reads_are_cheap(nats_client: NatsClient, infra_urls) -> None:
    """The hot path is dict lookups (plus one sha256 for percentage flags): no I/O, microseconds."""
    name = f"flags_test_{uuid.uuid4().hex[:10]}"
    kv = await _bucket(nats_client, name)
    try:
        tenants = {str(uuid.uuid4()): False for _ in range(1000)}
        await kv.put("streaming_enabled", _doc("streaming_enabled", 1, True, tenants=tenants))
        await kv.put("rollout", _doc("rollout", 2, 25, "percentage"))
        async with FlagClient(infra_urls.nats_url, bucket=name) as client:
            tenant = next(iter(tenants))
            n = 100_000
            start = time.perf_counter()
            for _ in range(n):
                client.is_enabled("streaming_enabled", tenant, default=True)
            boolean_us = (time.perf_counter() - start) / n * 1e6
            start = time.perf_counter()
            for _ in range(n):
                client.is_enabled("rollout", tenant, default=False)
            pct_us = (time.perf_counter() - start) / n * 1e6
            print(f"\nis_enabled: boolean {boolean_us:.2f} µs/read, percentage {pct_us:.2f} µs/read")
            assert client.is_enabled("streaming_enabled", tenant, default=True) is False
            assert boolean_us < 20 and pct_us < 50
    finally:
        await nats_client.jetstream().delete_key_value(name)
