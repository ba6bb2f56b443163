"""Row-level security and the append-only audit log, checked directly in Postgres."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aiaas.db import admin_session, tenant_session

from .factories import call, new_flag


async def test_runtime_reads_only_its_own_tenant_overrides(http, cp_url, make_tenant, runtime_sessions) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    flag = await new_flag(http, cp_url, "boolean", True)
    for tenant in (mine, theirs):
        path = f"{cp_url}/admin/flags/{flag['key']}/tenants/{tenant.id}"
        assert (await call(http, "PUT", path, {"value": False, "reason": "r"}))[0] == 200
    sql = text("select tenant_id from flag_tenant_overrides where flag_key = :k")
    async with tenant_session(runtime_sessions, mine.id) as session:
        rows = (await session.execute(sql, {"k": flag["key"]})).scalars().all()
        assert rows == [mine.id]
        # Platform-wide definitions are readable by every tenant.
        found = await session.execute(text("select type from feature_flags where key = :k"), {"k": flag["key"]})
        assert found.scalar_one() == "boolean"
    async with runtime_sessions() as session, session.begin():  # no tenant set: nothing
        assert (await session.execute(sql, {"k": flag["key"]})).scalars().all() == []


@pytest.mark.parametrize(
    "statement",
    [
        "update flag_tenant_overrides set value = 'true'",
        "delete from flag_tenant_overrides",
        "insert into feature_flags (key, type, default_value, updated_by) values ('x_rls', 'boolean', 'true', 'me')",
        "update feature_flags set default_value = 'false'",
        "select count(*) from flag_audit_log",
        "insert into flag_audit_log (flag_key, action, scope, actor, reason) values ('k', 'set', 'default', 'a', 'r')",
    ],
)
async def test_runtime_cannot_write_flags_or_see_the_audit_log(make_tenant, runtime_sessions, statement) -> None:
    tenant = await make_tenant()
    with pytest.raises(DBAPIError, match="permission denied"):
        async with tenant_session(runtime_sessions, tenant.id) as session:
            await session.execute(text(statement))


@pytest.mark.parametrize(
    "statement",
    ["update flag_audit_log set reason = 'rewritten'", "delete from flag_audit_log", "truncate flag_audit_log"],
)
async def test_audit_log_is_append_only_even_for_platform_admin(http, cp_url, admin_sessions, statement) -> None:
    flag = await new_flag(http, cp_url, "boolean", True)
    with pytest.raises(DBAPIError):
        async with admin_session(admin_sessions) as session:
            await session.execute(
                text(f"{statement}{' where flag_key = :k' if 'truncate' not in statement else ''}"), {"k": flag["key"]}
            )
    async with admin_session(admin_sessions) as session:
        reasons = (
            (await session.execute(text("select reason from flag_audit_log where flag_key = :k"), {"k": flag["key"]}))
            .scalars()
            .all()
        )
    assert reasons == ["test"]
