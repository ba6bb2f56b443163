"""Realtime connection tickets: short-lived, single-use WebSocket credentials for browsers.

`realtime_tickets` holds only the SHA-256 of each ticket, the key that asked for it, and that key
sealed (AES-GCM) under a key derived from the ticket itself, so a row is useless without the ticket.
A tenant table under FORCE RLS: the realtime service issues tickets inside the tenant's transaction.

Redeeming happens before the tenant is known, so it goes through `realtime_consume_ticket`, a
SECURITY DEFINER function owned by `key_resolver` (the pattern of `auth_lookup_api_key`): it marks
the ticket used and returns its tenant and key only if it was unused, unexpired at the caller's
`p_now` (the platform clock, `aiaas.clock.now()`), and its key is still active. The row lock makes
two concurrent redemptions of one ticket yield one success, on any instance.
`realtime_purge_tickets` deletes expired rows of every tenant.

Revision ID: 0012_realtime_tickets
Revises: 0007_realtime
Create Date: 2026-12-06
"""

from alembic import op

revision = "0012_realtime_tickets"
down_revision = "0007_realtime"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table realtime_tickets (
            ticket_hash text primary key check (length(ticket_hash) = 64),
            tenant_id uuid not null references tenants (id) on delete cascade,
            api_key_id uuid not null references api_keys (id) on delete cascade,
            sealed_key bytea not null,
            created_at timestamptz not null,
            expires_at timestamptz not null,
            used_at timestamptz,
            check (expires_at > created_at)
        )
        """
    )
    op.execute("create index realtime_tickets_expiry on realtime_tickets (expires_at)")
    op.execute("create index realtime_tickets_tenant_expiry on realtime_tickets (tenant_id, expires_at)")
    op.execute("alter table realtime_tickets enable row level security")
    op.execute("alter table realtime_tickets force row level security")
    op.execute(
        "create policy tenant_isolation on realtime_tickets for all to app_runtime "
        "using (tenant_id = app_current_tenant()) with check (tenant_id = app_current_tenant())"
    )
    op.execute(
        "create policy platform_admin_all on realtime_tickets for all to platform_admin using (true) with check (true)"
    )
    op.execute("grant select, insert, update, delete on realtime_tickets to app_runtime, platform_admin")

    # key_resolver reaches every tenant's tickets, but only through the two functions below (no one logs in as it).
    op.execute("grant select, update (used_at), delete on realtime_tickets to key_resolver")
    op.execute("create policy ticket_redeem_read on realtime_tickets for select to key_resolver using (true)")
    op.execute(
        "create policy ticket_redeem_mark on realtime_tickets for update to key_resolver using (true) with check (true)"
    )
    op.execute("create policy ticket_purge on realtime_tickets for delete to key_resolver using (true)")
    op.execute(
        """
        create function realtime_consume_ticket(p_ticket_hash text, p_now timestamptz)
        returns table (outcome text, tenant_id uuid, key_id uuid, sealed_key bytea)
        language plpgsql volatile security definer
        set search_path = public, pg_temp
        as $$
        declare
            t realtime_tickets%rowtype;
        begin
            -- The row lock serialises concurrent redemptions: the second sees used_at set.
            select * into t from realtime_tickets r where r.ticket_hash = p_ticket_hash for update;
            if not found then
                return query select 'unknown'::text, null::uuid, null::uuid, null::bytea;
                return;
            end if;
            if t.used_at is not null then
                return query select 'used'::text, null::uuid, null::uuid, null::bytea;
                return;
            end if;
            if t.expires_at <= p_now then
                return query select 'expired'::text, null::uuid, null::uuid, null::bytea;
                return;
            end if;
            update realtime_tickets r set used_at = p_now where r.ticket_hash = p_ticket_hash;
            if not exists (
                select 1 from api_keys k join tenants n on n.id = k.tenant_id
                where k.id = t.api_key_id and k.tenant_id = t.tenant_id
                  and k.revoked_at is null and n.status = 'active'
            ) then
                return query select 'revoked'::text, null::uuid, null::uuid, null::bytea;
                return;
            end if;
            return query select 'ok'::text, t.tenant_id, t.api_key_id, t.sealed_key;
        end
        $$
        """
    )
    op.execute(
        """
        create function realtime_purge_tickets(p_now timestamptz, p_limit integer)
        returns integer
        language sql volatile security definer
        set search_path = public, pg_temp
        as $$
            with gone as (
                delete from realtime_tickets where ticket_hash in (
                    select ticket_hash from realtime_tickets where expires_at <= p_now
                    order by expires_at limit p_limit for update skip locked
                )
                returning 1
            )
            select count(*)::integer from gone
        $$
        """
    )
    for function in ("realtime_consume_ticket(text, timestamptz)", "realtime_purge_tickets(timestamptz, integer)"):
        op.execute(f"alter function {function} owner to key_resolver")
        op.execute(f"revoke all on function {function} from public")
        op.execute(f"grant execute on function {function} to app_runtime, platform_admin")


def downgrade() -> None:
    op.execute("drop function if exists realtime_purge_tickets(timestamptz, integer)")
    op.execute("drop function if exists realtime_consume_ticket(text, timestamptz)")
    op.execute("drop table if exists realtime_tickets")
