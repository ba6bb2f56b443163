"""The ingestion service's knowledge base: each tenant's documents and their embedded chunks.

- `kb_documents`: one row per document (a tenant's file name names it): the current version's original bytes,
  their sha256, media type, size, status (queued, processing, ready, failed), the error of a failed version and
  how many chunks the last ingest embedded or reused. A changed upload bumps `version`; the chunks of the
  previous version stay searchable until the new ones replace them in one transaction.
- `kb_chunks`: one row per chunk of a document's ready version: text, section path (headings joined by " > "),
  PDF page, `content_sha256` (sha256 of the embedded text: section path, a newline, the content; equal hashes
  reuse a vector on re-ingest), the embedder's model id and dimension, the `vector(384)` embedding (stored
  inline, as the semantic cache's) and a generated `tsvector` (English) with a GIN index for full-text search.

`kb_chunks` is LIST-partitioned by tenant: a shared HNSW index under RLS returns too few rows for a small tenant
(the index finds the global nearest, the policy then drops the other tenants' ones), a partition per tenant keeps
each tenant's graph its own. The HNSW (`vector_cosine_ops`) and GIN indexes are declared on the parent, so each
partition is born with its own. `kb_ensure_partition(tenant)` creates a tenant's partition idempotently; it is
SECURITY DEFINER (owned by the migration role, the table's owner, as only an owner may add partitions) and
app_runtime may run it for the tenant its transaction is bound to only. There is no default partition: a chunk
of a tenant without one is refused, not misplaced.

Both tables (and every partition) are under ENABLE + FORCE RLS: app_runtime sees the bound tenant's rows only,
platform_admin all.

Revision ID: 0026_knowledge_base
Revises: 0019_model_registry_status
Create Date: 2026-12-06
"""

from alembic import op

revision = "0026_knowledge_base"
down_revision = "0019_model_registry_status"
branch_labels = None
depends_on = None

_TENANT_POLICY = (
    "create policy tenant_isolation on {table} for all to app_runtime "
    "using (tenant_id = app_current_tenant()) with check (tenant_id = app_current_tenant())"
)
_ADMIN_POLICY = "create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)"


def _protect(table: str) -> None:
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(_TENANT_POLICY.format(table=table))
    op.execute(_ADMIN_POLICY.format(table=table))
    op.execute(f"grant select, insert, update, delete on {table} to app_runtime, platform_admin")


def upgrade() -> None:
    # The data plane's bootstrap creates the extension as the superuser; this is a no-op then.
    op.execute("create extension if not exists vector")
    op.execute(
        """
        create table kb_documents (
            id uuid primary key,
            tenant_id uuid not null references tenants (id) on delete cascade,
            filename text not null check (length(filename) between 1 and 255),
            media_type text not null check (media_type in ('text/markdown', 'text/html', 'application/pdf',
                                                           'text/plain')),
            version integer not null check (version >= 1),
            sha256 text not null check (length(sha256) = 64),
            size_bytes integer not null check (size_bytes >= 0),
            content bytea not null,
            status text not null check (status in ('queued', 'processing', 'ready', 'failed')),
            error text,
            chunk_count integer not null default 0 check (chunk_count >= 0),
            chunks_embedded integer not null default 0 check (chunks_embedded >= 0),
            chunks_reused integer not null default 0 check (chunks_reused >= 0),
            created_at timestamptz not null,
            updated_at timestamptz not null,
            unique (tenant_id, filename),
            unique (tenant_id, id)
        )
        """
    )
    op.execute("create index kb_documents_listing on kb_documents (tenant_id, created_at, id)")
    _protect("kb_documents")

    op.execute(
        """
        create table kb_chunks (
            tenant_id uuid not null references tenants (id) on delete cascade,
            id uuid not null,
            document_id uuid not null,
            version integer not null check (version >= 1),
            ordinal integer not null check (ordinal >= 0),
            content text not null,
            section_path text not null default '',
            page integer check (page >= 1),
            content_sha256 text not null check (length(content_sha256) = 64),
            model_id text not null check (length(model_id) between 1 and 200),
            dimension integer not null check (dimension = 384),
            embedding vector(384) not null,
            tsv tsvector generated always as (
                to_tsvector('english'::regconfig, section_path || ' ' || content)
            ) stored,
            primary key (tenant_id, id),
            unique (tenant_id, document_id, version, ordinal),
            foreign key (tenant_id, document_id) references kb_documents (tenant_id, id) on delete cascade
        ) partition by list (tenant_id)
        """
    )
    op.execute("alter table kb_chunks alter column embedding set storage plain")
    op.execute("create index kb_chunks_document on kb_chunks (tenant_id, document_id, version)")
    op.execute("create index kb_chunks_sha on kb_chunks (tenant_id, content_sha256)")
    op.execute("create index kb_chunks_tsv on kb_chunks using gin (tsv)")
    op.execute(
        "create index kb_chunks_hnsw on kb_chunks using hnsw (embedding vector_cosine_ops)"
        " with (m = 16, ef_construction = 64)"
    )
    _protect("kb_chunks")
    op.execute(
        """
        create function kb_ensure_partition(p_tenant uuid) returns text
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
    )
    op.execute("revoke all on function kb_ensure_partition(uuid) from public")
    op.execute("grant execute on function kb_ensure_partition(uuid) to app_runtime, platform_admin")


def downgrade() -> None:
    op.execute("drop function if exists kb_ensure_partition(uuid)")
    op.execute("drop table if exists kb_chunks")
    op.execute("drop table if exists kb_documents")
