"""What a broadcast message says to a tenant's sockets: a JSON `message` or UTF-8 text, cut to 4096 characters."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from realtime.notices.consumers import notice_text


def test_a_json_message_field_is_the_notice() -> None:
    assert notice_text(orjson.dumps({"message": "maintenance at 02:00"})) == "maintenance at 02:00"


def test_other_payloads_are_read_as_text() -> None:
    assert notice_text(b"plain words") == "plain words"
    assert notice_text(orjson.dumps({"note": "x"})) == '{"note":"x"}'


def test_unusable_payloads_say_nothing() -> None:
    assert notice_text(b"") is None
    assert notice_text(b"\xff\xfe") is None
    assert notice_text(orjson.dumps({"message": ""})) is None


@given(st.text(min_size=1, max_size=6000))
def test_a_notice_is_its_text_cut_to_4096_characters(text: str) -> None:
    notice = notice_text(orjson.dumps({"message": text}))
    assert notice == text[:4096]
