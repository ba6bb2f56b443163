"""The refusal rule of a user message: duplicate ids and a reply still streaming, decided from Postgres' record."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from realtime.conversations.claims import Claim, LatestReply, Refused, refusal

LIVE_S = 60.0
NONE_YET = LatestReply(finished=None, idle_s=None)

claims = st.builds(Claim, completed=st.booleans(), failed=st.booleans(), idle_s=st.floats(0, 1e6))
latest = st.one_of(st.just(NONE_YET), st.builds(LatestReply, finished=st.booleans(), idle_s=st.floats(0, 1e6)))
live_s = st.floats(5, 1e5)


def test_a_new_id_in_a_quiet_conversation_is_accepted() -> None:
    assert refusal([], NONE_YET, live_s=LIVE_S) is None
    assert refusal([], LatestReply(finished=True, idle_s=1.0), live_s=LIVE_S) is None


def test_an_id_whose_reply_completed_is_a_duplicate_forever() -> None:
    done = Claim(completed=True, failed=False, idle_s=1e9)
    assert refusal([done], NONE_YET, live_s=LIVE_S) is Refused.DUPLICATE


def test_an_id_whose_reply_failed_may_be_sent_again() -> None:
    failed = Claim(completed=False, failed=True, idle_s=1.0)
    assert refusal([failed], LatestReply(finished=True, idle_s=1.0), live_s=LIVE_S) is None


def test_an_id_whose_reply_went_silent_may_be_sent_again() -> None:
    """Its producer died: nothing ended the reply, but nothing was written for longer than `live_s`."""
    silent = Claim(completed=False, failed=False, idle_s=LIVE_S + 1)
    assert refusal([silent], LatestReply(finished=False, idle_s=LIVE_S + 1), live_s=LIVE_S) is None


def test_an_id_whose_reply_is_still_streaming_is_a_duplicate() -> None:
    streaming = Claim(completed=False, failed=False, idle_s=1.0)
    assert refusal([streaming], LatestReply(finished=False, idle_s=1.0), live_s=LIVE_S) is Refused.DUPLICATE


def test_a_new_id_while_the_latest_reply_streams_is_refused_in_progress() -> None:
    assert refusal([], LatestReply(finished=False, idle_s=1.0), live_s=LIVE_S) is Refused.IN_PROGRESS


@given(st.lists(claims, max_size=5), latest, live_s)
def test_a_completed_claim_always_refuses_as_duplicate(others: list[Claim], last: LatestReply, live: float) -> None:
    done = Claim(completed=True, failed=False, idle_s=0.0)
    assert refusal([*others, done], last, live_s=live) is Refused.DUPLICATE


@given(st.lists(claims, max_size=5), latest, live_s, st.floats(0, 1e5))
def test_a_longer_liveness_window_never_lifts_a_refusal(
    found: list[Claim], last: LatestReply, live: float, more: float
) -> None:
    """Waiting longer for a silent reply can only refuse more messages, never fewer."""
    if refusal(found, last, live_s=live) is not None:
        assert refusal(found, last, live_s=live + more) is not None


@given(st.lists(claims, max_size=5), live_s)
def test_with_the_latest_reply_ended_only_the_claims_decide(found: list[Claim], live: float) -> None:
    ended = refusal(found, LatestReply(finished=True, idle_s=0.0), live_s=live)
    assert ended in (None, Refused.DUPLICATE)
    assert ended == refusal(found, NONE_YET, live_s=live)
