"""Ticket sealing and shape: the stored row opens only with its ticket, for its own tenant and key."""

from __future__ import annotations

import secrets
import uuid

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from realtime.tickets.service import TICKET_PREFIX, hash_ticket, seal, unseal, well_formed


def _ticket() -> str:
    return TICKET_PREFIX + secrets.token_urlsafe(32)


@given(api_key=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200))
def test_a_sealed_key_opens_with_its_ticket_tenant_and_key(api_key: str) -> None:
    ticket, tenant_id, key_id = _ticket(), uuid.uuid4(), uuid.uuid4()
    assert unseal(ticket, seal(ticket, api_key, tenant_id, key_id), tenant_id, key_id) == api_key


def test_a_sealed_key_does_not_open_elsewhere() -> None:
    ticket, tenant_id, key_id = _ticket(), uuid.uuid4(), uuid.uuid4()
    sealed = seal(ticket, "sk-aiaas-secret", tenant_id, key_id)
    for other in ((_ticket(), tenant_id, key_id), (ticket, uuid.uuid4(), key_id), (ticket, tenant_id, uuid.uuid4())):
        with pytest.raises(InvalidTag):
            unseal(other[0], sealed, other[1], other[2])


def test_sealing_twice_gives_different_bytes() -> None:
    ticket, tenant_id, key_id = _ticket(), uuid.uuid4(), uuid.uuid4()
    assert seal(ticket, "k", tenant_id, key_id) != seal(ticket, "k", tenant_id, key_id)


def test_only_issued_shapes_are_well_formed() -> None:
    assert well_formed(_ticket())
    assert not well_formed(_ticket()[:-1])
    assert not well_formed("rtk-other-" + secrets.token_urlsafe(32))
    assert not well_formed(TICKET_PREFIX + "é" * 43)


@given(st.text(max_size=80))
def test_the_stored_hash_is_sha256_hex_of_any_text(ticket: str) -> None:
    digest = hash_ticket(ticket)
    assert len(digest) == 64 and int(digest, 16) >= 0
