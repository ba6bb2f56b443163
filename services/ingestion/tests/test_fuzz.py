"""The ingestion API fuzzed from its own OpenAPI schema (schemathesis on hypothesis, acceptance 12): no 5xx, and
every 4xx in the platform's error shape. Valid cases, schema-breaking ones, and valid ones with text Postgres
cannot store (NUL, a lone surrogate) appended to every string. Derandomized; `AIAAS_FUZZ_EXAMPLES` (default 30 here)
examples per operation and mode. Until the lead adds the service to tests/test_openapi_fuzz.py, this is its fuzz.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

EXAMPLES = int(os.environ.get("AIAAS_FUZZ_EXAMPLES", "30"))
UNSTORABLE = ["\x00", "\ud800", "a\udfffb"]


def _append(value: Any, suffix: str) -> Any:
    if isinstance(value, str):
        return value + suffix
    if isinstance(value, dict):
        return {key: _append(item, suffix) for key, item in value.items()}
    if isinstance(value, list):
        return [_append(item, suffix) for item in value]
    return value


def _error_shaped(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and isinstance(error.get("message"), str) and bool(error.get("message"))


@pytest.fixture
async def tenant_headers(make_tenant: Callable[..., Any]) -> dict[str, str]:
    return dict((await make_tenant()).auth)


def test_no_5xx_and_every_4xx_is_error_shaped(ingestion_url: str, tenant_headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(f"{ingestion_url}/openapi.json")
    session = requests.Session()
    failures: list[str] = []
    statuses: Counter[int] = Counter()

    def check(response: requests.Response, label: str) -> None:
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{label}: {response.status_code}")
        elif 400 <= response.status_code < 500 and not _error_shaped(response):
            failures.append(f"{label}: {response.status_code} without the error shape: {response.text[:200]}")

    def run(strategy: st.SearchStrategy[Any], examples: int, label: str) -> None:
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            phases=[phase for phase in settings.default.phases if phase.name != "shrink"],
        )
        @given(item=strategy)
        def fuzz(item: Any) -> None:
            if isinstance(item, tuple):
                case, suffix = item
                kwargs = case.as_transport_kwargs(base_url=ingestion_url, headers=tenant_headers)
                if "json" in kwargs:
                    kwargs["data"] = json.dumps(_append(kwargs.pop("json"), suffix)).encode()
                params = _append(kwargs.get("params") or {}, suffix)
                kwargs["params"] = {
                    k: v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v for k, v in params.items()
                }
                response = session.request(**kwargs, timeout=60)
                check(response, f"{label} +{suffix!r}")
            else:
                response = item.call(base_url=ingestion_url, session=session, headers=tenant_headers, timeout=60)
                check(response, f"{label} {item.as_curl_command(headers=tenant_headers)[:300]}")

        try:
            fuzz()
        except Unsatisfiable:
            pass

    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        label = f"{operation.method.upper()} {operation.path}"
        run(operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE), EXAMPLES, label)
        run(operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE), EXAMPLES, label)
        positive = operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)
        run(st.tuples(positive, st.sampled_from(UNSTORABLE)), max(EXAMPLES // 4, 3), label)
    print("fuzz statuses", dict(statuses))
    assert operations >= 6
    assert not failures, "\n".join(failures[:20])
