"""Alert webhooks cannot be pointed at the platform's own network (no SSRF through billing).

A billing API and a meter with `BILLING_ALERT_ALLOW_INTERNAL_URLS=false` (production's default); the other
billing tests run with it on, because their receivers listen on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiaas_testing import InfraUrls, ServiceProcess, free_port

from ..factories import billing_admin_env, billing_env, usage_event, wait_for, wait_metered
from .factories import Receiver, deliveries, tenant_with_alerts


@pytest.fixture(scope="module")
def strict_billing_url(run_dir: Path, infra_urls: InfraUrls) -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        ["-m", "billing", "--host", "127.0.0.1", "--port", str(port)],
        env=billing_env(infra_urls, BILLING_ALERT_ALLOW_INTERNAL_URLS="false"),
        log_path=run_dir / f"billing-strict-{port}.log",
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ).start()
    yield f"http://127.0.0.1:{port}"
    proc.stop()


@pytest.fixture
def strict_meter(run_dir: Path, infra_urls: InfraUrls) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        ["-m", "billing.meter"],
        env=billing_admin_env(infra_urls, BILLING_ALERT_ALLOW_INTERNAL_URLS="false"),
        log_path=run_dir / "meter-strict.log",
    ).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8082/hook",
        "http://localhost:9000/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:10.0.0.1]/hook",
        "https://192.168.1.10/hook",
    ],
)
async def test_internal_alert_urls_are_refused(strict_billing_url, http, tenant, url: str) -> None:
    async with http.put(f"{strict_billing_url}/v1/billing/alerts", json={"url": url}, headers=tenant.auth) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["code"] == "invalid_url" and error["param"] == "url"
    assert "internal" in error["message"] or "this machine" in error["message"]


async def test_a_public_alert_url_is_accepted(strict_billing_url, http, tenant) -> None:
    url = "https://hooks.example.com/aiaas"
    async with http.put(f"{strict_billing_url}/v1/billing/alerts", json={"url": url}, headers=tenant.auth) as resp:
        assert resp.status == 200
        assert (await resp.json())["url"] == url


async def test_an_internal_url_registered_earlier_is_never_called(
    strict_meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions
) -> None:
    """Registered while internal URLs were allowed, delivered by a meter that refuses them: no call."""
    receiver = Receiver()
    async with receiver.serving() as url:
        await tenant_with_alerts(http, billing_url, billing_admin_url, admin_headers, tenant, admin_sessions, url)
        await publisher.publish(usage_event(tenant, "m", 1000, 0))  # crosses 80 % and 100 %
        await wait_metered(admin_sessions, tenant.id, 1)

        async def failed():
            rows = await deliveries(admin_sessions, tenant.id)
            return rows if len(rows) == 2 and all(r[1] == "failed" for r in rows) else None

        rows = await wait_for(failed)
        assert [(pct, attempts) for pct, _, attempts, _ in rows] == [(80, 4), (100, 4)]
        assert all(error.startswith("URL refused: the address 127.0.0.1 is internal") for *_, error in rows)
        assert receiver.calls == []
