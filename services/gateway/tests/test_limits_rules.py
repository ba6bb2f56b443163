"""`Settlement.script_args`: what a finished request charges the token buckets and the plan quota."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.limits.rules import Limits, Settlement

TOKENS = Limits(tokens_per_minute=1000)


def _settlement(
    *,
    tenant_limits: Limits = TOKENS,
    actual_tokens: int = 30,
    quota_key: str | None = None,
    quota_delta: tuple[int, int] | None = None,
) -> Settlement:
    """A request estimated at 100 tokens, under a 1000 tokens/min tenant limit unless told otherwise."""
    return Settlement("t", "k", tenant_limits, Limits(), 100, actual_tokens, quota_key, quota_delta)


def test_underuse_is_refunded_to_the_token_buckets_and_counted_in_the_quota() -> None:
    assert _settlement(quota_key="q").script_args() == ["settle", 0, 1000, 0, 0, 0, -70, 30, 1]


def test_a_reservation_at_admission_settles_only_the_correction() -> None:
    args = _settlement(quota_key="q", quota_delta=(-70, 0)).script_args()
    assert args == ["settle", 0, 1000, 0, 0, 0, -70, -70, 0]


def test_nothing_to_settle_without_token_limits_or_quota() -> None:
    assert _settlement(tenant_limits=Limits(requests_per_minute=5)).script_args() is None
    assert _settlement(actual_tokens=100).script_args() is None  # the estimate was exact


def test_quota_only_when_no_token_bucket_was_debited() -> None:
    args = _settlement(tenant_limits=Limits(), quota_key="q").script_args()
    assert args == ["settle", 0, 0, 0, 0, 0, -70, 30, 1]


_limits = st.builds(
    Limits,
    requests_per_minute=st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)),
    tokens_per_minute=st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)),
)


@given(
    tenant=_limits,
    key=_limits,
    estimated=st.integers(min_value=-10, max_value=10_000),
    actual=st.integers(min_value=-10, max_value=10_000),
    quota=st.booleans(),
)
def test_the_buckets_are_charged_actual_minus_estimated_and_only_token_buckets(
    tenant: Limits, key: Limits, estimated: int, actual: int, quota: bool
) -> None:
    settlement = Settlement("t", "k", tenant, key, estimated, actual, quota_key="q" if quota else None)
    args = settlement.script_args()
    delta = max(0, actual) - max(0, estimated)
    token_limits = [0, tenant.tokens_per_minute or 0, 0, key.tokens_per_minute or 0]
    if args is None:
        assert not quota and (delta == 0 or not any(token_limits))
        return
    assert args[0] == "settle" and args[6] == delta
    assert args[1] == args[3] == args[5] == 0  # request buckets are never settled
    charged = args[1:5]
    assert charged == token_limits or charged == [0, 0, 0, 0]
    assert args[7:] == [max(0, actual), 1]  # without a reservation the quota gets the request and its tokens
