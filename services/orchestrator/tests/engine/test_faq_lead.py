"""FAQ and Lead runs executed by the engine directly (model calls through the real gateway and simulator)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiaas.db import tenant_session
from aiaas_testing import TenantWithKey
from orchestrator.engine import Engine
from orchestrator.graphs.lead import next_business_day_10, score_by_rules, score_from_model

from .factories import Hooks, Toolbox, new_run

RETURNS = b"""# Returns

## Refund window

Unopened bags of coffee can be returned within 30 days of delivery for a full refund.

## Damaged parcels

If your grinder arrived damaged, send us a photo and we ship a replacement within two business days.
"""


async def _upload(http: aiohttp.ClientSession, url: str, tenant: TenantWithKey) -> str:
    form = aiohttp.FormData()
    form.add_field("file", RETURNS, filename="returns.md", content_type="text/markdown")
    async with http.post(f"{url}/v1/ingestion/documents", data=form, headers=tenant.auth) as response:
        body = await response.json()
        assert response.status == 202, body
        assert body["status"] == "ready", body
        return str(body["document_id"])


async def _llm_steps(sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, run_id: uuid.UUID) -> list:
    async with tenant_session(sessions, tenant.id) as session:
        rows = await session.execute(
            text(
                "select step_key, status, tokens_in, tokens_out, request_sha256, response from orch_steps "
                "where run_id = :run and kind = 'llm' order by id"
            ),
            {"run": run_id},
        )
        return list(rows)


async def test_faq_answers_with_citations_of_an_ingested_document(
    engine: Engine,
    runtime_sessions: async_sessionmaker[AsyncSession],
    tenant: TenantWithKey,
    http: aiohttp.ClientSession,
    engine_ingestion: str,
) -> None:
    document_id = await _upload(http, engine_ingestion, tenant)
    question = "How many days do I have to return unopened coffee for a refund?"
    spec = await new_run(runtime_sessions, tenant.id, "faq", {"question": question})

    outcome = await engine.execute(spec, "start", Hooks())

    assert outcome.status == "succeeded", outcome.error
    assert outcome.output is not None
    reply = outcome.output["reply"]
    assert reply["citations"], reply
    first = reply["citations"][0]
    assert first["document_id"] == document_id and first["filename"] == "returns.md"
    assert "Refund window" in first["section"]
    assert set(first) == {"document_id", "filename", "section", "page", "chunk_id"}
    assert "[1]" in reply["answer"] and "[1]" in outcome.output["text"]
    assert "returns.md" in outcome.output["text"]
    assert reply["category"] == "returns" and reply["classified_by"] in {"model", "rules"}
    assert outcome.output["actions"] == []
    # Two model calls (classify, answer) through the gateway, each one recorded step with its tokens.
    steps = await _llm_steps(runtime_sessions, tenant, spec.run_id)
    assert [s.step_key for s in steps] == ["classify#0", "answer#0"]
    assert all(s.status == "ok" and s.tokens_in > 0 and s.tokens_out > 0 for s in steps)
    assert outcome.llm_calls == 2 and outcome.tokens == sum(s.tokens_in + s.tokens_out for s in steps)
    assert outcome.tool_calls == 1  # kb.search, through the ledger

    # Executed again, the finished run answers from its checkpoint: the same output, no new step.
    again = await engine.execute(spec, "start", Hooks())
    assert again.output == outcome.output
    assert len(await _llm_steps(runtime_sessions, tenant, spec.run_id)) == 2


async def test_faq_without_sources_says_so(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey
) -> None:
    spec = await new_run(runtime_sessions, tenant.id, "faq", {"question": "Do you sell telescopes?"})
    outcome = await engine.execute(spec, "start", Hooks())
    assert outcome.status == "succeeded", outcome.error
    assert outcome.output is not None and outcome.output["reply"]["citations"] == []
    assert outcome.llm_calls == 1  # classify only: nothing to answer from


async def test_a_first_execution_counts_what_it_recorded(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey
) -> None:
    # The worker's first delivery of a start: no state read, no look-up of recorded model answers, and the
    # outcome's counts from the execution's own tally; they equal what the record says when read.
    spec = await new_run(runtime_sessions, tenant.id, "faq", {"question": "Do you sell telescopes?"})
    first = await engine.execute(dataclasses.replace(spec, first_execution=True), "start", Hooks())
    assert first.status == "succeeded", first.error
    steps = await _llm_steps(runtime_sessions, tenant, spec.run_id)
    assert [s.step_key for s in steps] == ["classify#0"]
    assert first.llm_calls == 1 and first.tokens == steps[0].tokens_in + steps[0].tokens_out > 0
    again = await engine.execute(spec, "start", Hooks())  # answers from the checkpoint, counts from the record
    assert again.output == first.output
    assert (again.llm_calls, again.tool_calls, again.tokens) == (first.llm_calls, first.tool_calls, first.tokens)
    assert len(await _llm_steps(runtime_sessions, tenant, spec.run_id)) == 1


async def test_lead_is_created_once(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    lead = {
        "email": "Lin@Example.com",
        "name": "Lin Chen",
        "company": "Chen Roasters",
        "message": "We want a quote for 40 grinders, urgent.",
    }
    first = await engine.execute(await new_run(runtime_sessions, tenant.id, "lead", lead), "start", Hooks())
    second = await engine.execute(await new_run(runtime_sessions, tenant.id, "lead", lead), "start", Hooks())

    assert first.status == "succeeded", first.error
    assert second.status == "succeeded", second.error
    assert first.output is not None and second.output is not None
    assert first.output["reply"]["created"] is True and second.output["reply"]["created"] is False
    assert first.output["reply"]["lead_id"] == second.output["reply"]["lead_id"]
    assert [a["status"] for a in second.output["actions"] if a["tool"] == "crm.create_lead"] == ["skipped"]
    state = await toolbox.state()
    assert len(state["leads"]) == 1 and await toolbox.total("crm.create_lead") == 1
    reply = first.output["reply"]
    if reply["score_source"] == "rules":
        assert reply["score"] == score_by_rules(lead) == 85
    assert 0 <= reply["score"] <= 100
    callback = datetime.fromisoformat(reply["callback_at"])
    assert callback.hour == 10 and callback.weekday() < 5 and callback > datetime.now(UTC)
    assert first.llm_calls == 1


async def test_lead_callback_at_from_input(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    at = "2031-03-04T15:30:00+00:00"
    lead = {"email": "ren@example.com", "name": "Ren", "message": "Call me.", "callback_at": at}
    outcome = await engine.execute(await new_run(runtime_sessions, tenant.id, "lead", lead), "start", Hooks())
    assert outcome.status == "succeeded", outcome.error
    callbacks = (await toolbox.state())["callbacks"]
    assert [datetime.fromisoformat(c["at"]) for c in callbacks] == [datetime.fromisoformat(at)]


def test_score_parsing_and_next_business_day() -> None:
    assert score_from_model(" 72 ") == 72 and score_from_model("72.") == 72
    assert score_from_model("amber river 12") is None and score_from_model("140") is None
    assert score_by_rules({"message": "hello"}) == 20
    friday = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert next_business_day_10(friday) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert next_business_day_10(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)).day == 2


async def test_faq_with_exit_durability_behind_the_flag(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey
) -> None:
    flags = {"orch.faq.durability_exit": True}
    spec = await new_run(runtime_sessions, tenant.id, "faq", {"question": "Where is my parcel?"}, flags=flags)
    outcome = await engine.execute(spec, "start", Hooks())
    assert outcome.status == "succeeded", outcome.error
    assert outcome.output is not None and outcome.output["reply"]["category"] in {"shipping", "orders", "other"}
    again = await engine.execute(spec, "start", Hooks())
    assert again.output == outcome.output and again.llm_calls == outcome.llm_calls == 1


async def test_a_failed_model_call_fails_the_run_once(
    engine: Engine, runtime_sessions: async_sessionmaker[AsyncSession], tenant: TenantWithKey, toolbox: Toolbox
) -> None:
    """No retry here: the gateway's error is the step's, recorded, and answered again on re-execution."""
    lead = {"email": "x@example.com", "name": "X", "message": "Hi"}
    spec = await new_run(runtime_sessions, tenant.id, "lead", lead)
    spec = dataclasses.replace(spec, model_alias="no-such-model")

    outcome = await engine.execute(spec, "start", Hooks())

    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error["node"] == "qualify" and outcome.error["error_class"] == "llm"
    steps = await _llm_steps(runtime_sessions, tenant, spec.run_id)
    assert [(s.step_key, s.status) for s in steps] == [("qualify#0", "error")]
    assert steps[0].response["code"] == outcome.error["code"]
    again = await engine.execute(spec, "start", Hooks())
    assert again.status == "failed" and again.error == outcome.error
    assert len(await _llm_steps(runtime_sessions, tenant, spec.run_id)) == 1
    assert await toolbox.requests("crm.find_leads") == 0
