"""Semantic cache: the nearest-entries search also returns each entry's cosine to the nearest one; vectors inline.

The verifier (`aiaas.semcache.verifier.choose`) tells a rival cached question (a different question as close to the
query as the nearest, so either answer is a coin toss: a miss) from a rewording of the nearest one (a popular
question's paraphrases, each stored after its own miss: one question, one answer). For that it needs the cosine
between the candidates, computed here next to the vectors (nothing else leaves the database).
`semantic_cache_nearest` keeps its arguments, its tenant binding and its security; its result gains `to_nearest`
(1 for the nearest entry itself). Postgres cannot change a function's result type in place: drop and create.

The search reads every candidate's vector. The vector type's default storage (EXTERNAL) put them in the TOAST table
(a row with its answer passes 2 kB), so each distance first fetched the vector from there: 2.2 ms for a 700-entry
partition, against 0.35 ms with the vectors inline (measured on the bench stack). A 384-d vector is 1.5 kB: stored
PLAIN, inline; the answer (jsonb, compressible) is what gets moved out. SET STORAGE only applies to new values, so
the existing rows' vectors are written again.

Revision ID: 0024_semantic_cache_rivals
Revises: 0022_semantic_cache
Create Date: 2026-12-06
"""

from alembic import op

revision = "0024_semantic_cache_rivals"
down_revision = "0022_semantic_cache"
branch_labels = None
depends_on = None

_SIGNATURE = "semantic_cache_nearest(uuid, text, text, text, vector, timestamptz, integer)"

_WITH_RIVALS = """
    create function semantic_cache_nearest(
        p_tenant uuid, p_alias text, p_system text, p_params text, p_vector vector, p_now timestamptz, p_k integer
    )
    returns table (
        id uuid, exact_key text, query_text text, answer jsonb, similarity double precision, to_nearest double precision
    )
    language plpgsql volatile security invoker
    set search_path = public, pg_temp
    as $$
    begin
        perform set_config('app.tenant_id', p_tenant::text, true);
        perform set_config('hnsw.iterative_scan', 'strict_order', true);
        return query
            with near as (
                select e.id, e.exact_key, e.query_text, e.answer, e.embedding, e.embedding <=> p_vector as distance
                from semantic_cache_entries e
                where e.tenant_id = p_tenant and e.model_alias = p_alias and e.system_hash = p_system
                  and e.params_hash = p_params and e.embedding is not null and e.expires_at > p_now
                order by e.embedding <=> p_vector
                limit p_k
            )
            select n.id, n.exact_key, n.query_text, n.answer, 1 - n.distance,
                   1 - (n.embedding <=> first_value(n.embedding) over (order by n.distance, n.id))
            from near n
            order by n.distance, n.id;
    end
    $$
"""

# 0022_semantic_cache's version, restored by the downgrade.
_WITHOUT_RIVALS = """
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


def _replace(create: str) -> None:
    op.execute(f"drop function if exists {_SIGNATURE}")
    op.execute(create)
    op.execute(f"revoke all on function {_SIGNATURE} from public")
    op.execute(f"grant execute on function {_SIGNATURE} to app_runtime, platform_admin")


def upgrade() -> None:
    _replace(_WITH_RIVALS)
    op.execute("alter table semantic_cache_entries alter column embedding set storage plain")
    op.execute("update semantic_cache_entries set embedding = embedding::text::vector where embedding is not null")


def downgrade() -> None:
    _replace(_WITHOUT_RIVALS)
    op.execute("alter table semantic_cache_entries alter column embedding set storage external")
