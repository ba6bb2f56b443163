"""Quota alert webhooks: signed, retried with back-off, delivered once per threshold and period."""

from __future__ import annotations

import json

from aiohttp import web

from billing.alerts.rules import SIGNATURE_HEADER, verify_signature

from ..factories import usage_event, wait_for, wait_metered
from .factories import Receiver, deliveries, hook_url, tenant_with_alerts


async def test_thresholds_are_signed_and_delivered_once(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions
):
    receiver = Receiver()
    async with receiver.serving() as url:
        secret = await tenant_with_alerts(
            http, billing_url, billing_admin_url, admin_headers, tenant, admin_sessions, url
        )
        await publisher.publish(usage_event(tenant, "m", 700, 0))  # 70 %: nothing
        await publisher.publish(usage_event(tenant, "m", 150, 0))  # 85 %: crosses 80
        await publisher.publish(usage_event(tenant, "m", 100, 100))  # 105 %: crosses 100
        await publisher.publish(usage_event(tenant, "m", 500, 0))  # 155 %: nothing new
        await wait_metered(admin_sessions, tenant.id, 4)

        async def delivered():
            rows = await deliveries(admin_sessions, tenant.id)
            return rows if [r[1] for r in rows] == ["delivered", "delivered"] else None

        assert await wait_for(delivered) == [(80, "delivered", 1, None), (100, "delivered", 1, None)]
        assert len(receiver.calls) == 2
        seen = []
        for headers, body, _ in receiver.calls:
            assert verify_signature(secret, headers[SIGNATURE_HEADER], body)
            assert not verify_signature("whsec_wrong", headers[SIGNATURE_HEADER], body)
            event = json.loads(body)
            assert headers["X-AIaaS-Event-Id"] == event["id"]
            assert event["type"] == "billing.quota.threshold_reached"
            seen.append(
                (event["data"]["threshold_pct"], event["data"]["used_tokens"], event["data"]["included_tokens"])
            )
        assert sorted(seen) == [(80, 850, 1000), (100, 1050, 1000)]


async def test_failing_receiver_is_retried_then_delivered(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions
):
    receiver = Receiver(failures=2)
    async with receiver.serving() as url:
        await tenant_with_alerts(http, billing_url, billing_admin_url, admin_headers, tenant, admin_sessions, url)
        await publisher.publish(usage_event(tenant, "m", 900, 0))  # crosses 80 % only
        await wait_metered(admin_sessions, tenant.id, 1)

        async def delivered():
            rows = await deliveries(admin_sessions, tenant.id)
            return rows if rows and rows[0][1] == "delivered" else None

        rows = await wait_for(delivered)
        assert rows == [(80, "delivered", 3, "HTTP 500")]
        assert [status for _, _, status in receiver.calls] == [500, 500, 204]
        # The same body (same event) every time.
        assert len({body for _, body, _ in receiver.calls}) == 1


async def test_unreachable_receiver_gives_up_with_last_error(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions
):
    receiver = Receiver(failures=100)
    async with receiver.serving() as url:
        await tenant_with_alerts(http, billing_url, billing_admin_url, admin_headers, tenant, admin_sessions, url)
        await publisher.publish(usage_event(tenant, "m", 1000, 0))  # crosses 80 and 100
        await wait_metered(admin_sessions, tenant.id, 1)

        async def failed():
            rows = await deliveries(admin_sessions, tenant.id)
            return rows if len(rows) == 2 and all(r[1] == "failed" for r in rows) else None

        # BILLING_ALERT_MAX_ATTEMPTS=4 in the tests.
        assert await wait_for(failed) == [(80, "failed", 4, "HTTP 500"), (100, "failed", 4, "HTTP 500")]
        assert len(receiver.calls) == 8


async def test_redirects_are_not_followed(
    meter, billing_url, billing_admin_url, http, admin_headers, publisher, tenant, admin_sessions
):
    """A receiver answering 307 elsewhere fails the delivery; the redirect target is never called."""
    target = Receiver()

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": target_url})

    async with target.serving() as target_url, hook_url(redirect) as url:
        await tenant_with_alerts(http, billing_url, billing_admin_url, admin_headers, tenant, admin_sessions, url)
        await publisher.publish(usage_event(tenant, "m", 1000, 0))
        await wait_metered(admin_sessions, tenant.id, 1)

        async def failed():
            rows = await deliveries(admin_sessions, tenant.id)
            return rows if len(rows) == 2 and all(r[1] == "failed" for r in rows) else None

        assert await wait_for(failed) == [(80, "failed", 4, "HTTP 307"), (100, "failed", 4, "HTTP 307")]
        assert target.calls == []
