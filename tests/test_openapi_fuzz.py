"""Every HTTP listener fuzzed from its own OpenAPI schema (schemathesis on hypothesis): no 5xx, and every
4xx in the error shape `{"error": {"code", "message", ...}}`; every non-public operation declares auth.

Per operation: valid cases, cases that break the schema, and valid cases with text Postgres cannot store
(a NUL, a lone surrogate) in every string. `/webhooks/stripe` also gets signed event-shaped bodies.

The services run as real processes on a throwaway state: a database of their own (bootstrapped and
migrated like the real one), a private NATS and a Redis database index nobody else uses, so what the
fuzzer creates, closes or flips (plans, flags, period closes, tenants) never reaches the other suites.
Tenant routes get a key with every scope and admin routes a named admin key made in that database, so
the fuzzer gets past authentication to the handlers (negative cases also drop it). Generation is
derandomized: a failure here fails the same way on the next run.
`AIAAS_FUZZ_EXAMPLES` (default 100) is the number of examples per operation and generation mode.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from aiaas_testing import InfraUrls
from aiaas_testing.fuzz_stack import Stack, fuzz_stack
from stripe_sim.webhooks import sign as stripe_sign

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "whsec_fuzz_" + uuid.uuid4().hex
EXAMPLES = int(os.environ.get("AIAAS_FUZZ_EXAMPLES", "100"))
# Redis database index of this test alone (the suites use 0); flushed at the end.
REDIS_DB = 13
# Every HTTP process: (process name in aiaas.roles, module, readiness path).
SERVICES = [
    ("provider_sim", "provider_sim", "/health"),
    ("stripe_sim", "stripe_sim", "/openapi.json"),
    ("toolbox", "toolbox", "/health/ready"),
    ("control_plane", "control_plane", "/health/ready"),
    ("gateway", "gateway", "/health/ready"),
    ("billing", "billing", "/health/ready"),
    ("billing_admin", "billing.admin", "/health/ready"),
    ("analytics", "analytics", "/health/ready"),
    ("analytics_admin", "analytics.admin", "/health/ready"),
    ("realtime", "realtime", "/health/ready"),
    ("router", "router", "/health/ready"),
    ("router_admin", "router.admin", "/health/ready"),
    ("ingestion", "ingestion", "/health/ready"),
    ("orchestrator", "orchestrator", "/health/ready"),
]
# The stand-ins speak third parties' protocols (OpenAI's, Stripe's): their auth is not ours to check.
STAND_INS = {"provider_sim", "stripe_sim", "toolbox"}
# How each stand-in forgets what the fuzzer set up.
STAND_IN_RESET = {"provider_sim": "/_sim/reset", "stripe_sim": "/_sim/reset", "toolbox": "/control/reset"}
# Text no Postgres column can hold (a NUL, a lone surrogate): appended to every string value of valid cases.
UNSTORABLE = ("\x00", "\ud800")
# Reachable without any of our credentials, each for a stated reason.
PUBLIC = {
    "/health/live": "liveness probe",
    "/health/ready": "readiness probe",
    "/webhooks/stripe": "authenticated by the Stripe-Signature header",
}


@pytest.fixture(scope="module")
def stack(infra_urls: InfraUrls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with fuzz_stack(
        infra_urls, tmp_path_factory.mktemp("fuzz"), SERVICES, redis_db=REDIS_DB, webhook_secret=WEBHOOK_SECRET
    ) as started:
        yield started


def _error_shaped(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and isinstance(error.get("message"), str) and bool(error.get("message"))


@dataclass
class FuzzRun:
    """What one service's run did: operations, requests sent, and the failures found."""

    operations: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _fuzz(base_url: str, stack: Stack) -> FuzzRun:
    """Run every operation of the service's schema: valid cases, schema-breaking ones, unstorable text."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    run = FuzzRun()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        run.operations += 1
        fuzz = _Fuzzer(base_url, operation, _headers(stack, operation.path), session, run)
        known = stack.known_path_values
        fuzz.run(_with_known_path_values(operation, schemathesis.GenerationMode.POSITIVE, known), EXAMPLES)
        fuzz.run(_with_known_path_values(operation, schemathesis.GenerationMode.NEGATIVE, known), EXAMPLES)
        # Valid cases whose every string carries text Postgres cannot store: hypothesis rarely makes them.
        positive = _with_known_path_values(operation, schemathesis.GenerationMode.POSITIVE, known)
        fuzz.run(st.tuples(positive, st.sampled_from(UNSTORABLE)), EXAMPLES // 4)
    return run


def _with_known_path_values(operation, mode, known: dict[str, str]) -> st.SearchStrategy:
    """The operation's cases, half of them with path parameters naming what exists (random UUIDs never do)."""
    strategy = operation.as_strategy(generation_mode=mode)
    names = [name for name in re.findall(r"{(\w+)}", operation.path) if name in known]
    if not names:
        return strategy

    def fill(pair):
        case, use_known = pair
        if use_known:
            case.path_parameters = {**(case.path_parameters or {}), **{name: known[name] for name in names}}
        return case

    return st.tuples(strategy, st.booleans()).map(fill)


def _append_to_strings(value, suffix: str):
    if isinstance(value, str):
        return value + suffix
    if isinstance(value, dict):
        return {key: _append_to_strings(item, suffix) for key, item in value.items()}
    if isinstance(value, list):
        return [_append_to_strings(item, suffix) for item in value]
    return value


def _url_bytes(value):
    if isinstance(value, list):
        return [_url_bytes(item) for item in value]
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


@dataclass
class _Fuzzer:
    """Sends one operation's generated cases and records what came back."""

    base_url: str
    operation: Any
    headers: dict[str, str]
    session: requests.Session
    run_: FuzzRun

    def run(self, strategy: st.SearchStrategy, examples: int) -> None:
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            # Keep the first failing example: shrinking would resend variations of it for minutes.
            phases=[phase for phase in settings.default.phases if phase.name != "shrink"],
        )
        @given(item=strategy)
        def fuzz(item) -> None:
            self._check(*self._send(item))

        try:
            fuzz()
        except Unsatisfiable:
            pass  # an operation with nothing to break (no parameters, no body) has no negative cases

    def _send(self, item) -> tuple[requests.Response, str]:
        if not isinstance(item, tuple):
            response = item.call(base_url=self.base_url, session=self.session, headers=self.headers, timeout=30)
            return response, item.as_curl_command(headers=self.headers)
        # (case, text): the case's request with `text` appended to every string of its body and query
        # (schemathesis itself cannot carry a lone surrogate through its own validation).
        case, suffix = item
        kwargs = case.as_transport_kwargs(base_url=self.base_url, headers=self.headers)
        if "json" in kwargs:
            kwargs["data"] = json.dumps(_append_to_strings(kwargs.pop("json"), suffix)).encode()
        # In a URL a lone surrogate can only travel as its (invalid) UTF-8 bytes.
        params = _append_to_strings(kwargs.get("params") or {}, suffix)
        kwargs["params"] = {key: _url_bytes(value) for key, value in params.items()}
        response = self.session.request(**kwargs, timeout=30)
        return response, f"{kwargs['method']} {kwargs['url']} with {suffix!r} appended to every string"

    def _check(self, response: requests.Response, request: str) -> None:
        label = f"{self.operation.method.upper()} {self.operation.path}"
        self.run_.requests += 1
        self.run_.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.run_.failures.append(f"{label}: {response.status_code} for {request}")
        elif 400 <= response.status_code < 500 and not _error_shaped(response):
            self.run_.failures.append(f"{label}: {response.status_code} without the error shape: {response.text[:200]}")


def _headers(stack: Stack, path: str) -> dict[str, str]:
    """The admin key for /admin routes, the all-scope tenant key for /v1 routes, nothing elsewhere."""
    if path.startswith("/admin"):
        return stack.admin_headers
    if path.startswith("/v1"):
        return stack.tenant_headers
    return {}


@pytest.mark.parametrize("service", [name for name, _, _ in SERVICES])
def test_no_5xx_and_errors_in_shape(stack: Stack, service: str) -> None:
    started = time.monotonic()
    try:
        run = _fuzz(stack.urls[service], stack)
    finally:
        if service in STAND_INS:
            # Faults, latency and endpoints the fuzzer set up would otherwise answer the services' calls.
            requests.post(f"{stack.urls[service]}{STAND_IN_RESET[service]}", timeout=30).raise_for_status()
    print(  # noqa: T201 - the run's size, shown with -s
        f"fuzz {service}: {run.operations} operations, {run.requests} requests, {len(run.failures)} failures,"
        f" {time.monotonic() - started:.1f}s, statuses {dict(sorted(run.statuses.items()))}"
    )
    assert run.operations > 0, f"{service}: no operations in the schema"
    assert run.requests >= run.operations, f"{service}: fewer requests than operations"
    # Distinct lines only: one per broken (route, status) is enough to act on.
    assert not run.failures, "\n".join(sorted(set(run.failures))[:40])


def _concrete(path: str) -> str:
    """The path with each `{param}` filled by a UUID (well-formed, so only auth can refuse it first)."""
    parts = path.split("/")
    return "/".join(str(uuid.UUID(int=1)) if part.startswith("{") else part for part in parts)


@pytest.mark.parametrize("service", [name for name, _, _ in SERVICES if name not in STAND_INS])
def test_every_non_public_operation_declares_auth_and_refuses_no_credentials(stack: Stack, service: str) -> None:
    base_url = stack.urls[service]
    spec = requests.get(f"{base_url}/openapi.json", timeout=10).json()
    checked, failures = 0, []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete") or path in PUBLIC:
                continue
            name = f"{method.upper()} {path}"
            checked += 1
            if not operation.get("security"):
                failures.append(f"{name}: no security requirement in the schema")
            resp = requests.request(method, base_url + _concrete(path), json={}, timeout=10)
            if resp.status_code != 401 or not _error_shaped(resp):
                failures.append(f"{name}: {resp.status_code} without credentials: {resp.text[:200]}")
    assert checked, f"{service}: no operation needs credentials"
    assert not failures, "\n".join(failures)


def test_an_unsigned_stripe_webhook_is_a_400_in_the_error_shape(stack: Stack) -> None:
    resp = requests.post(
        f"{stack.urls['billing_admin']}/webhooks/stripe",
        data=b'{"id": "evt_fuzz", "type": "checkout.session.completed"}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 400, resp.text
    assert _error_shaped(resp), resp.text


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _stripe_events(session_ids: list[str]) -> st.SearchStrategy:
    """Event-shaped JSON as Stripe could sign it: half about the known Checkout Sessions, half anything."""
    checkout_types = st.sampled_from(
        [
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
            "checkout.session.async_payment_failed",
            "checkout.session.expired",
        ]
    )
    other_types = st.sampled_from(
        ["invoice.paid", "invoice.payment_failed", "invoice.voided", "customer.subscription.updated"]
    )
    fields = {
        "object": st.sampled_from(["checkout.session", "invoice", "subscription"]) | _json,
        "customer": st.text(max_size=20) | _json,
        "status": st.sampled_from(["complete", "open", "expired", "active", "canceled"]) | _json,
        "payment_status": st.sampled_from(["paid", "unpaid", "no_payment_required"]) | _json,
        "amount_total": st.sampled_from([500, 499]) | st.integers() | _json,
        "currency": st.sampled_from(["usd", "eur"]) | _json,
        "client_reference_id": st.text(max_size=40) | _json,
        "metadata": st.dictionaries(st.text(max_size=10), st.text(max_size=40)) | _json,
    }
    event_id = st.from_regex(r"evt_[A-Za-z0-9]{6,12}", fullmatch=True)
    about_a_session = st.fixed_dictionaries(
        {
            "id": event_id,
            "type": checkout_types,
            "created": st.integers(0, 2**33),
            "data": st.fixed_dictionaries(
                {"object": st.fixed_dictionaries({"id": st.sampled_from(session_ids)}, optional=fields)}
            ),
        }
    )
    anything = st.fixed_dictionaries(
        {"id": event_id | _json, "type": checkout_types | other_types | st.text(max_size=20)},
        optional={
            "object": st.just("event") | _json,
            "created": st.integers() | _json,
            "data": st.fixed_dictionaries({"object": st.fixed_dictionaries({}, optional={"id": _json, **fields})})
            | _json,
            "livemode": _json,
        },
    )
    return about_a_session | anything


def test_signed_stripe_events_never_5xx(stack: Stack) -> None:
    """Bodies with a valid signature reach the handlers: whatever they hold, the answer is never a 5xx."""
    # A real pending top-up, so some events name a Checkout Session billing knows.
    resp = requests.post(
        f"{stack.urls['billing']}/v1/billing/balance/top-ups",
        json={"amount_minor": 500},
        headers=stack.tenant_headers,
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    session_ids = [resp.json()["checkout_session_id"]]
    url = f"{stack.urls['billing_admin']}/webhooks/stripe"
    run = FuzzRun(operations=1)
    outcomes: Counter[str] = Counter()
    http = requests.Session()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        phases=[phase for phase in settings.default.phases if phase.name != "shrink"],
    )
    @given(event=_stripe_events(session_ids))
    def fuzz(event) -> None:
        payload = json.dumps(event)
        signature = stripe_sign(payload, WEBHOOK_SECRET, int(time.time()))
        response = http.post(
            url, data=payload.encode(), headers={"Stripe-Signature": signature, "Content-Type": "application/json"}
        )
        run.requests += 1
        run.statuses[response.status_code] += 1
        if response.status_code == 200:
            outcomes[response.json()["outcome"]] += 1
        if response.status_code >= 500 or (response.status_code >= 400 and not _error_shaped(response)):
            run.failures.append(f"{response.status_code} for {payload[:300]}: {response.text[:200]}")

    fuzz()
    print(  # noqa: T201
        f"fuzz signed stripe events: {run.requests} requests, statuses {dict(sorted(run.statuses.items()))},"
        f" outcomes {dict(outcomes)}"
    )
    assert outcomes["processed"] + outcomes["unchanged"] > 0, outcomes  # some reached a top-up
    assert not run.failures, "\n".join(sorted(set(run.failures))[:20])
