"""The rule models' data files: they load, and each table does what its comments say."""

from __future__ import annotations

import pytest

from provider_sim.rulemodels.data import load_rule_data

DATA = load_rule_data()


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("My parcel never arrived, which courier?", "shipping"),
        ("I want a refund, the grinder is damaged", "returns"),  # returns before payments ("refund")
        ("Can I pay by card?", "payments"),
        ("I forgot my password", "account"),
        ("Which roast is best?", "products"),
        ("Hello there", "other"),
    ],
)
def test_faq_intents_first_keyword_hit_wins(text: str, intent: str) -> None:
    table = DATA.intents.agents["faq"]
    lowered = text.lower()
    found = next((n for n, i in table.intents.items() if any(k in lowered for k in i.keywords)), table.default)
    assert found == intent


def test_every_agent_has_intents_tool_hints_and_a_detector() -> None:
    assert set(DATA.intents.agents) == {"faq", "order", "lead"} == set(DATA.intents.detect)
    assert DATA.intents.agents["order"].intents["status"].tools[0] == "ordersget"
    assert DATA.intents.lead_score.base == 20


@pytest.mark.parametrize(
    ("param", "text", "value"),
    [
        ("order_id", "Where is ORD-1234 please", "ORD-1234"),
        ("orderId", "ORD-77 and ORD-88", "ORD-77"),
        ("email", "reach me at ann.lee+x@acme.co.uk today", "ann.lee+x@acme.co.uk"),
        ("amount", "refund $25.50 now", 25.5),
        ("amount", "charge EUR 12 please", 12.0),
        ("total", "it was 19.99 in total", 19.99),
        ("phone", "call +44 20 7946 0958 soon", "+44 20 7946 0958"),
        ("query", "how do returns work?\nthanks", "how do returns work?"),
    ],
)
def test_extractors_find_values_for_parameters(param: str, text: str, value: object) -> None:
    extractor = DATA.extractors.extractor_for(param)
    assert extractor is not None
    assert extractor.find(text) == value


def test_no_extractor_for_unknown_parameters_or_missing_values() -> None:
    assert DATA.extractors.extractor_for("colour") is None
    email = DATA.extractors.extractor_for("email")
    assert email is not None and email.find("no address here") is None
    amount = DATA.extractors.extractor_for("amount")
    assert amount is not None and amount.find("ORD-1234") is None  # an order id is not an amount


def test_templates_render_with_their_placeholders() -> None:
    t = DATA.templates
    assert t.cited.format(sentence="Returns take 30 days.", n=2) == "Returns take 30 days. [2]"
    assert t.tool_result.format(intent="status", facts="status: shipped", n=1).endswith("status: shipped [1]")
    assert (
        t.tool_error.format(tool="orders_get", facts="error: boom", n=1)
        == "The orders_get step failed: error: boom [1]"
    )
    assert t.classify.format(category="returns") == "returns"
    assert t.score.format(score=85) == "85"
    assert "{" not in t.chat.format(intent="status")
