"""The frame parser is total: any text or JSON gives a typed message or a ProtocolError, nothing else."""

from __future__ import annotations

import json
import uuid

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.conversations.schemas import MessageCreate, Ping, ProtocolError, Resume, parse_client_frame

LIMIT = 32_768

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
frames = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, "1", True, None]),
        "type": st.sampled_from(["message.create", "resume", "ping", "pong", "", 5]),
        "conversation_id": st.one_of(st.uuids().map(str), st.text(max_size=40), st.integers()),
        "content": st.one_of(st.text(max_size=50), st.integers()),
        "model": st.text(max_size=20),
        "client_msg_id": st.text(max_size=20),
        "last_seq": st.one_of(st.integers(), st.text(max_size=5)),
        "extra": json_values,
    },
)


def _parse(frame: str | bytes) -> object:
    try:
        return parse_client_frame(frame, max_bytes=LIMIT)
    except ProtocolError as exc:
        assert exc.code in {
            "binary_not_supported",
            "frame_too_large",
            "invalid_json",
            "invalid_message",
            "unknown_type",
            "unsupported_version",
        }
        assert isinstance(exc.message, str) and exc.message
        return exc


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=50))
def test_any_text_is_parsed_or_refused(frame: str | bytes) -> None:
    _parse(frame)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_any_json_is_parsed_or_refused(value: object) -> None:
    _parse(json.dumps(value))


@settings(max_examples=1000, deadline=None)
@given(frames)
def test_protocol_shaped_frames(frame: dict[str, object]) -> None:
    result = _parse(json.dumps(frame))
    if isinstance(result, ProtocolError):
        return
    assert frame.get("v", 1) == 1 and frame.get("v") is not True
    assert isinstance(result, MessageCreate | Resume | Ping)
    assert result.type == frame["type"]


def test_valid_frames() -> None:
    cid = uuid.uuid4()
    msg = parse_client_frame(
        orjson.dumps(
            {
                "v": 1,
                "type": "message.create",
                "conversation_id": str(cid),
                "content": "hi",
                "model": "m",
                "client_msg_id": "c",
            }
        ).decode(),
        max_bytes=LIMIT,
    )
    assert msg == MessageCreate(type="message.create", conversation_id=cid, content="hi", model="m", client_msg_id="c")
    resume = parse_client_frame(f'{{"type":"resume","conversation_id":"{cid}","last_seq":7}}', max_bytes=LIMIT)
    assert resume == Resume(type="resume", conversation_id=cid, last_seq=7)
    assert parse_client_frame('{"type":"ping"}', max_bytes=LIMIT) == Ping(type="ping")


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 4])
def test_oversize_frames(size: int) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_frame('{"type":"ping","p":"' + "é" * size + '"}', max_bytes=LIMIT)
    assert info.value.code == "frame_too_large"
