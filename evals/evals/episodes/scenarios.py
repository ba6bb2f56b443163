"""The corpus's runs: FAQ, Order and Lead through the orchestrator API, with the faults and human answers that
make its retries, compensations, interrupts and resumes.

Each scenario names its agent, input, the toolbox set-up of its tenant (`seed`, `faults`: the toolbox's control
API bodies without the tenant) and what a human does at an interrupt (`resume` value, or `cancel`). `tenant` groups
scenarios in one tenant (FAQ shares the uploaded help centre; Lead's dedupe needs the earlier lead); the others get
a tenant each, so stock, order locks and faults are theirs alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCENARIOS", "Scenario"]

_NO_RESUME = object()


@dataclass(frozen=True)
class Scenario:
    name: str
    agent: str
    input: dict[str, Any]
    tenant: str | None = None  # a shared tenant's name; None = a fresh tenant
    seed: dict[str, Any] = field(default_factory=dict)
    faults: tuple[dict[str, Any], ...] = ()
    resume: Any = _NO_RESUME
    cancel: bool = False
    docs: bool = False  # the tenant's knowledge base holds the help centre

    @property
    def resumes(self) -> bool:
        return self.resume is not _NO_RESUME


UNDELIVERABLE = {
    "id": "ORD-9000",
    "customer": {"email": "kim@example.com", "name": "Kim"},
    "items": [{"sku": "SKU-MUG", "name": "Mug", "quantity": 2, "unit_amount_minor": 1200}],
    "amount_minor": 2400,
    "currency": "usd",
    "shipping_address": {"line1": "1 Nowhere Road", "city": "Atlantis", "postal_code": "00000", "country": "US"},
}

_QUESTIONS = (
    "How many days do I have to return unopened coffee for a refund?",
    "How long does standard shipping take?",
    "How do I update my billing details?",
    "How can I reset my account password?",
    "What happens if my grinder arrives damaged?",
    "Do you ship to other countries?",
    "Can I cancel an order after placing it?",
    "Which payment methods do you accept?",
    "Where do I find my invoices?",
    "Can I return an opened bag of beans?",
)

SCENARIOS: tuple[Scenario, ...] = (
    *(Scenario(f"faq-{n:02d}", "faq", {"question": q}, tenant="faq", docs=True) for n, q in enumerate(_QUESTIONS, 1)),
    Scenario("faq-no-sources", "faq", {"question": "Do you sell gift cards?"}),
    Scenario("faq-express", "faq", {"question": "How long does express delivery take?"}, tenant="faq", docs=True),
    Scenario("order-ok", "order", {"order_id": "ORD-1001"}),
    Scenario("order-ok-dhl", "order", {"order_id": "ORD-1002", "carrier": "dhl", "notify_email": "g@example.com"}),
    Scenario("order-charge-retry", "order", {"order_id": "ORD-1001"},
             faults=({"operation": "payments.charge", "status": 503, "count": 2},)),
    # More failures than the adapter's attempts: the ledger's forward recovery calls again (a second round).
    Scenario("order-charge-rounds", "order", {"order_id": "ORD-1002"},
             faults=({"operation": "payments.charge", "status": 503, "count": 4},)),
    Scenario("order-reserve-retry", "order", {"order_id": "ORD-1002"},
             faults=({"operation": "inventory.reserve", "status": 503, "count": 1},)),
    Scenario("order-lookup-retry", "order", {"order_id": "ORD-1001"},
             faults=({"operation": "orders.get", "status": 503, "count": 1},)),
    Scenario("order-approve", "order", {"order_id": "ORD-1003", "notify_email": "lamp@example.com"}, resume=True),
    Scenario("order-approve-obj", "order", {"order_id": "ORD-1003"}, resume={"approved": True}),
    Scenario("order-deny", "order", {"order_id": "ORD-1003"}, resume=False),
    Scenario("order-cancel-waiting", "order", {"order_id": "ORD-1003"}, cancel=True),
    Scenario("order-undeliverable", "order", {"order_id": "ORD-9000"}, seed={"orders": [UNDELIVERABLE]}),
    Scenario("order-shipment-fatal", "order", {"order_id": "ORD-1002"},
             faults=({"operation": "shipments.create", "status": 400, "count": 1},)),
    Scenario("order-unknown", "order", {"order_id": "ORD-404"}),
    Scenario("lead-buyer", "lead", {"email": "ann@acme.example", "name": "Ann", "company": "Acme",
             "phone": "+441234567890", "message": "We want a quote for an enterprise contract, urgent"},
             tenant="lead"),
    Scenario("lead-minimal", "lead", {"email": "bob@example.com", "name": "Bob", "message": "Hello there"},
             tenant="lead"),
    Scenario("lead-callback", "lead", {"email": "cy@example.com", "name": "Cy", "message": "Call me about pricing",
             "callback_at": "2030-01-07T15:30:00+00:00"}, tenant="lead"),
    Scenario("lead-duplicate", "lead", {"email": "ann@acme.example", "name": "Ann", "message": "Following up"},
             tenant="lead"),
    Scenario("lead-urgent", "lead", {"email": "dee@example.com", "name": "Dee", "message": "Need a demo asap"}),
    Scenario("lead-create-retry", "lead", {"email": "eve@example.com", "name": "Eve", "company": "Evecorp",
             "message": "Interested in a trial"},
             faults=({"operation": "crm.create_lead", "status": 503, "count": 2},)),
    Scenario("lead-notify-retry", "lead", {"email": "fay@example.com", "name": "Fay", "message": "Buy 10 grinders"},
             faults=({"operation": "notify.send", "status": 503, "count": 1},)),
    Scenario("lead-phone", "lead", {"email": "gus@example.com", "name": "Gus", "phone": "+15550100",
             "message": "Question about licences"}),
    Scenario("lead-callback-fatal", "lead", {"email": "hal@example.com", "name": "Hal", "message": "Price list?"},
             faults=({"operation": "crm.schedule_callback", "status": 400, "count": 1},)),
)  # fmt: skip
