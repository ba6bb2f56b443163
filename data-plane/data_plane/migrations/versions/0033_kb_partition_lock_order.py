"""`kb_ensure_partition` takes its table locks in the order every ingest transaction does: no cross-tenant deadlock.

`create table … partition of kb_chunks` locks kb_chunks ACCESS EXCLUSIVE first and only then, cloning the
inherited foreign keys, kb_documents and tenants SHARE ROW EXCLUSIVE. Another tenant's ingest transaction that had
written kb_documents (RowExclusive) and then read kb_chunks waited for the first lock while the function waited for
the second: Postgres aborted one of them (40P01), one tenant's first upload answered 500.

The function now locks, before it creates the partition: `tenants` SHARE ROW EXCLUSIVE (what the foreign key takes
anyway; first, because a tenant's deletion holds tenants and then cascades into the two tables), `kb_documents`
EXCLUSIVE (stronger than the foreign key needs: it also conflicts with the ROW SHARE of `select … for update`, so a
transaction that locked a document row, wrote kb_chunks and then updates kb_documents, as the ingest's store and
a delete do, cannot be caught between the function's two table locks), then `kb_chunks` ACCESS EXCLUSIVE. Every
transaction of the ingestion service touches kb_documents before kb_chunks, or kb_chunks alone, so the function
waits for them to end rather than holding a lock they need. Plain reads (ACCESS SHARE on kb_documents) are not
blocked by the second lock. The locks are taken only when the partition is missing (once per tenant), after the
tenant's advisory lock, so the usual call stays lock-free. Owner, SECURITY DEFINER and grants are unchanged.

Revision ID: 0033_kb_partition_lock_order
Revises: 0032_episode_clock_steps
Create Date: 2026-12-07
"""

from alembic import op

revision = "0033_kb_partition_lock_order"
down_revision = "0032_episode_clock_steps"
branch_labels = None
depends_on = None

_FUNCTION = """
create or replace function kb_ensure_partition(p_tenant uuid) returns text
language plpgsql volatile security definer
set search_path = public, pg_temp
as $$
declare
    v_name text := 'kb_chunks_' || replace(p_tenant::text, '-', '');
begin
    if p_tenant is null or p_tenant is distinct from app_current_tenant() then
        raise exception 'kb_ensure_partition: the transaction is not bound to tenant %', p_tenant
            using errcode = '42501';
    end if;
    -- Serialises two first uploads of one tenant: the second finds the partition made.
    perform pg_advisory_xact_lock(hashtextextended('kb_ensure_partition:' || p_tenant::text, 0));
    if to_regclass('public.' || v_name) is null then
{locks}
        execute format('create table public.%I partition of kb_chunks for values in (%L)', v_name, p_tenant);
        execute format('alter table public.%I enable row level security', v_name);
        execute format('alter table public.%I force row level security', v_name);
        execute format(
            'create policy tenant_isolation on public.%I for all to app_runtime '
            'using (tenant_id = app_current_tenant()) with check (tenant_id = app_current_tenant())',
            v_name
        );
        execute format(
            'create policy platform_admin_all on public.%I for all to platform_admin '
            'using (true) with check (true)',
            v_name
        );
    end if;
    return v_name;
end
$$
"""

# The ingest transactions' order: a tenant's deletion holds tenants before it cascades; everything else locks
# kb_documents (a row, or a write) before kb_chunks.
_ORDERED_LOCKS = """
        lock table public.tenants in share row exclusive mode;
        lock table public.kb_documents in exclusive mode;
        lock table public.kb_chunks in access exclusive mode;"""


def upgrade() -> None:
    op.execute(_FUNCTION.replace("{locks}", _ORDERED_LOCKS))


def downgrade() -> None:
    # 0026's body: the partition is created with no table locked beforehand.
    op.execute(_FUNCTION.replace("{locks}\n", ""))
