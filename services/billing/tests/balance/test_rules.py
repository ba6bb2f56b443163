"""The balance's pure rules: ledger arithmetic, top-up bounds and replays, checkout settlement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiaas.errors import BadRequest
from billing.balance.rules import (
    CHECKOUT_EVENTS,
    IdempotencyConflict,
    Settlement,
    balance_after,
    check_grant_replay,
    check_top_up_amount,
    check_top_up_replay,
    checkout_verdict,
    settlement,
    top_up_currency,
)
from billing.balance.schemas import CreditGrant, TopUp

NOW = datetime(2026, 12, 1, tzinfo=UTC)
STATUSES = ("pending", "paid", "failed", "expired", "mismatch")
EVENT_TYPES = st.sampled_from(sorted(CHECKOUT_EVENTS) + ["checkout.session.async_payment_pending", "invoice.paid"])
money = st.integers(min_value=-(10**15), max_value=10**15)


def _top_up(status: str = "pending", amount_minor: int = 500, currency: str = "usd") -> TopUp:
    return TopUp(
        id=uuid.uuid4(),
        idempotency_key="key-1",
        amount_minor=amount_minor,
        currency=currency,
        status=status,
        checkout_session_id="cs_test_1",
        checkout_url="https://checkout.example/cs_test_1",
        expires_at=None,
        credit_id=None,
        failure_reason=None,
        created_at=NOW,
        settled_at=None,
    )


def _grant(amount_minor: int = 1000, reason: str = "goodwill") -> CreditGrant:
    return CreditGrant(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        amount_minor=amount_minor,
        currency="usd",
        reason=reason,
        actor="ops",
        admin_key_id=None,
        credit_id=1,
        created_at=NOW,
    )


def _paid(amount: object = 500, currency: object = "usd") -> dict[str, Any]:
    return {"id": "cs_test_1", "payment_status": "paid", "amount_total": amount, "currency": currency}


# --- ledger arithmetic


def test_balance_after_adds_the_signed_amount() -> None:
    assert balance_after(1000, 250) == 1250
    assert balance_after(1000, -1250) == -250


@given(st.lists(money, max_size=50))
def test_running_balances_end_at_the_sum_of_the_entries(amounts: list[int]) -> None:
    running = list(accumulate(amounts, balance_after, initial=0))
    assert running[-1] == sum(amounts)
    steps = zip(running[:-1], running[1:], amounts, strict=True)
    assert all(after - before == amount for before, after, amount in steps)


@given(money, money, money)
def test_a_credit_never_lowers_and_a_debit_never_raises_the_balance(current: int, credit: int, debit: int) -> None:
    assert balance_after(current, abs(credit)) >= current
    assert balance_after(current, -abs(debit)) <= current


# --- top-up bounds and currency


def test_top_up_amount_at_the_maximum_is_accepted_and_above_it_refused() -> None:
    check_top_up_amount(100_000, 100_000)
    with pytest.raises(BadRequest) as refused:
        check_top_up_amount(100_001, 100_000)
    assert (refused.value.code, refused.value.param) == ("amount_too_large", "amount_minor")
    assert "100000" in refused.value.message


@given(st.integers(min_value=1, max_value=10**15), st.integers(min_value=1, max_value=10**15))
def test_top_up_amount_is_accepted_exactly_up_to_the_maximum(amount: int, maximum: int) -> None:
    try:
        check_top_up_amount(amount, maximum)
    except BadRequest:
        assert amount > maximum
    else:
        assert amount <= maximum


def test_top_ups_are_in_the_plan_currency() -> None:
    assert top_up_currency(None, "usd") == "usd"
    assert top_up_currency("usd", "usd") == "usd"
    with pytest.raises(BadRequest) as refused:
        top_up_currency("eur", "usd")
    assert (refused.value.code, refused.value.param) == ("currency_mismatch", "currency")


@given(st.none() | st.from_regex(r"^[a-z]{3}$", fullmatch=True), st.from_regex(r"^[a-z]{3}$", fullmatch=True))
def test_top_up_currency_is_the_plan_currency_or_refused(requested: str | None, plan: str) -> None:
    try:
        assert top_up_currency(requested, plan) == plan
    except BadRequest:
        assert requested not in (None, plan)


# --- replays of an Idempotency-Key


def test_a_top_up_replay_must_ask_for_the_same_amount_and_currency() -> None:
    check_top_up_replay(_top_up(amount_minor=500, currency="usd"), 500, "usd")
    for amount, currency in ((501, "usd"), (500, "eur")):
        with pytest.raises(IdempotencyConflict) as conflict:
            check_top_up_replay(_top_up(amount_minor=500, currency="usd"), amount, currency)
        assert (conflict.value.status, conflict.value.code) == (409, "idempotency_key_reused")


def test_a_grant_replay_must_ask_for_the_same_amount_and_reason() -> None:
    check_grant_replay(_grant(1000, "goodwill"), 1000, "goodwill")
    for amount, reason in ((1001, "goodwill"), (1000, "outage")):
        with pytest.raises(IdempotencyConflict):
            check_grant_replay(_grant(1000, "goodwill"), amount, reason)


# --- checkout settlement


@pytest.mark.parametrize(
    ("event_type", "obj", "verdict"),
    [
        ("checkout.session.completed", {"payment_status": "paid"}, "paid"),
        ("checkout.session.completed", {"payment_status": "unpaid"}, None),
        ("checkout.session.async_payment_succeeded", {}, "paid"),
        ("checkout.session.async_payment_failed", {}, "failed"),
        ("checkout.session.expired", {}, "expired"),
        ("invoice.paid", {"payment_status": "paid"}, None),
    ],
)
def test_checkout_verdicts(event_type: str, obj: dict[str, Any], verdict: str | None) -> None:
    assert checkout_verdict(event_type, obj) == verdict


def test_a_paid_session_of_the_asked_amount_is_credited() -> None:
    assert settlement(_top_up(), "checkout.session.completed", _paid()) == Settlement("paid", True, None)


def test_a_paid_session_of_another_amount_or_currency_is_a_mismatch() -> None:
    change = settlement(_top_up(), "checkout.session.completed", _paid(amount=400))
    assert change == Settlement("mismatch", False, "Stripe reported 400 'usd'")
    assert settlement(_top_up(), "checkout.session.completed", _paid(currency="eur")) == Settlement(
        "mismatch", False, "Stripe reported 500 'eur'"
    )


def test_failed_and_expired_sessions_credit_nothing() -> None:
    assert settlement(_top_up(), "checkout.session.async_payment_failed", {}) == Settlement(
        "failed", False, "The payment failed."
    )
    assert settlement(_top_up(), "checkout.session.expired", {}) == Settlement(
        "expired", False, "The Checkout Session expired unpaid."
    )


def test_a_completed_session_still_awaiting_payment_settles_nothing() -> None:
    assert settlement(_top_up(), "checkout.session.completed", {"payment_status": "unpaid"}) is None


event_objects = st.fixed_dictionaries(
    {},
    optional={
        "payment_status": st.sampled_from(["paid", "unpaid", "no_payment_required"]),
        "amount_total": st.none() | st.integers(min_value=-10, max_value=2000),
        "currency": st.sampled_from(["usd", "eur", "USD"]),
    },
)


@given(st.sampled_from(STATUSES[1:]), EVENT_TYPES, event_objects)
def test_a_settled_top_up_never_changes(status: str, event_type: str, obj: dict[str, Any]) -> None:
    assert settlement(_top_up(status=status), event_type, obj) is None


@given(EVENT_TYPES, event_objects, st.integers(min_value=1, max_value=2000), st.sampled_from(["usd", "eur"]))
def test_only_a_paid_session_of_exactly_the_row_amount_is_credited(
    event_type: str, obj: dict[str, Any], amount: int, currency: str
) -> None:
    top_up = _top_up(amount_minor=amount, currency=currency)
    change = settlement(top_up, event_type, obj)
    if change is None:
        return
    assert change.status != "pending"
    assert change.credit == (change.status == "paid")
    if change.credit:
        assert checkout_verdict(event_type, obj) == "paid"
        assert (obj.get("amount_total"), obj.get("currency")) == (amount, currency)
    else:
        assert change.failure_reason


@given(st.text(max_size=40).filter(lambda t: t not in CHECKOUT_EVENTS), event_objects)
def test_events_other_than_checkout_settle_nothing(event_type: str, obj: dict[str, Any]) -> None:
    assert settlement(_top_up(), event_type, obj) is None
