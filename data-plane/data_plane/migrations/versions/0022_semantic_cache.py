"""The gateway's response cache: one row per cached answer, the semantic tier's vectors with it.

`semantic_cache_entries` is the cache's record of every entry (the Redis exact tier holds copies keyed
by `exact_key`, deleted with their rows): the answer, the tenant's request hashes (alias, system prompt,
parameters: a semantic candidate must match all three), the embedded user text and its all-MiniLM-L6-v2
vector (384-d, L2-normalised; null for an entry only the exact tier can serve), and its expiry.
An HNSW index (cosine) serves the nearest-neighbour search; a tenant table under FORCE RLS.

`semantic_cache_nearest` is that search in one round trip for the request path: called outside a transaction
(autocommit), it binds its statement's implicit transaction to the tenant (as `aiaas.db.tenant_session` does:
transaction-local, so RLS applies and nothing outlives the call) and lets HNSW scan past filtered-out rows. It is
SECURITY INVOKER: it runs as app_runtime, under RLS, with no power the caller lacks. `semantic_cache_store` is
the store after a reply the same way: upsert the entry (one per tenant and exact key), then delete the tenant's
expired entries and all but its newest `p_keep`, returning the entry's id and the evicted exact keys.

Revision ID: 0022_semantic_cache
Revises: 0019_model_registry_status
Create Date: 2026-12-06
"""

from alembic import op

revision = "0022_semantic_cache"
down_revision = "0019_model_registry_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The data plane's bootstrap creates the extension as the superuser; this is a no-op then.
    op.execute("create extension if not exists vector")
    op.execute(
        """
        create table semantic_cache_entries (
            id uuid primary key,
            tenant_id uuid not null references tenants (id) on delete cascade,
            model_alias text not null check (length(model_alias) between 1 and 256),
            exact_key text not null check (length(exact_key) = 64),
            system_hash text not null check (length(system_hash) = 64),
            params_hash text not null check (length(params_hash) = 64),
            query_text text,
            embedding vector(384),
            answer jsonb not null,
            created_at timestamptz not null,
            expires_at timestamptz not null,
            check (expires_at > created_at),
            check ((embedding is null) = (query_text is null)),
            unique (tenant_id, exact_key)
        )
        """
    )
    op.execute(
        "create index semantic_cache_candidates on semantic_cache_entries"
        " (tenant_id, model_alias, system_hash, params_hash)"
    )
    op.execute("create index semantic_cache_age on semantic_cache_entries (tenant_id, created_at)")
    op.execute("create index semantic_cache_expiry on semantic_cache_entries (tenant_id, expires_at)")
    op.execute("create index semantic_cache_hnsw on semantic_cache_entries using hnsw (embedding vector_cosine_ops)")
    op.execute("alter table semantic_cache_entries enable row level security")
    op.execute("alter table semantic_cache_entries force row level security")
    op.execute(
        "create policy tenant_isolation on semantic_cache_entries for all to app_runtime "
        "using (tenant_id = app_current_tenant()) with check (tenant_id = app_current_tenant())"
    )
    op.execute(
        "create policy platform_admin_all on semantic_cache_entries for all to platform_admin "
        "using (true) with check (true)"
    )
    op.execute("grant select, insert, update, delete on semantic_cache_entries to app_runtime, platform_admin")
    op.execute(
        """
        create function semantic_cache_nearest(
            p_tenant uuid, p_alias text, p_system text, p_params text, p_vector vector, p_now timestamptz, p_k integer
        )
        returns table (id uuid, exact_key text, query_text text, answer jsonb, similarity double precision)
        language plpgsql volatile security invoker
        set search_path = public, pg_temp
        as $$
        begin
            perform set_config('app.tenant_id', p_tenant::text, true);
            perform set_config('hnsw.iterative_scan', 'strict_order', true);
            return query
                select e.id, e.exact_key, e.query_text, e.answer, 1 - (e.embedding <=> p_vector)
                from semantic_cache_entries e
                where e.tenant_id = p_tenant and e.model_alias = p_alias and e.system_hash = p_system
                  and e.params_hash = p_params and e.embedding is not null and e.expires_at > p_now
                order by e.embedding <=> p_vector
                limit p_k;
        end
        $$
        """
    )
    op.execute(
        """
        create function semantic_cache_store(
            p_id uuid, p_tenant uuid, p_alias text, p_exact text, p_system text, p_params text, p_query text,
            p_vector vector, p_answer jsonb, p_now timestamptz, p_expires timestamptz, p_keep integer
        )
        returns table (entry_id uuid, evicted text[])
        language plpgsql volatile security invoker
        set search_path = public, pg_temp
        as $$
        declare
            v_id uuid;
            v_evicted text[];
        begin
            perform set_config('app.tenant_id', p_tenant::text, true);
            insert into semantic_cache_entries as e
                (id, tenant_id, model_alias, exact_key, system_hash, params_hash, query_text, embedding, answer,
                 created_at, expires_at)
            values (p_id, p_tenant, p_alias, p_exact, p_system, p_params, p_query, p_vector, p_answer, p_now, p_expires)
            on conflict (tenant_id, exact_key) do update set
                query_text = excluded.query_text, embedding = excluded.embedding, answer = excluded.answer,
                created_at = excluded.created_at, expires_at = excluded.expires_at
            returning e.id into v_id;
            with doomed as (
                select d.id from semantic_cache_entries d where d.tenant_id = p_tenant and d.expires_at <= p_now
                union
                select b.id from (
                    select d.id from semantic_cache_entries d where d.tenant_id = p_tenant
                    order by d.created_at desc, d.id desc offset p_keep
                ) b
            ), gone as (
                delete from semantic_cache_entries e using doomed where e.id = doomed.id returning e.exact_key
            )
            select coalesce(array_agg(gone.exact_key), '{}') into v_evicted from gone;
            return query select v_id, v_evicted;
        end
        $$
        """
    )
    for function in (
        "semantic_cache_nearest(uuid, text, text, text, vector, timestamptz, integer)",
        "semantic_cache_store(uuid, uuid, text, text, text, text, text, vector, jsonb, timestamptz, timestamptz,"
        " integer)",
    ):
        op.execute(f"revoke all on function {function} from public")
        op.execute(f"grant execute on function {function} to app_runtime, platform_admin")


def downgrade() -> None:
    op.execute("drop function if exists semantic_cache_nearest(uuid, text, text, text, vector, timestamptz, integer)")
    op.execute(
        "drop function if exists semantic_cache_store"
        "(uuid, uuid, text, text, text, text, text, vector, jsonb, timestamptz, timestamptz, integer)"
    )
    op.execute("drop table if exists semantic_cache_entries")
