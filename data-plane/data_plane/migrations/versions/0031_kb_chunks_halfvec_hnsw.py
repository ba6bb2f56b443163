"""kb_chunks' HNSW index over the embedding as halfvec(384): half the index's pages (768 B a vector instead of
1,536), so a tenant's graph stays in shared buffers; the column stays vector(384) (exact scores, reindex).

Revision ID: 0031_kb_chunks_halfvec_hnsw
Revises: 0030_registry_manifests
Create Date: 2026-12-06
"""

from alembic import op

revision = "0031_kb_chunks_halfvec_hnsw"
down_revision = "0030_registry_manifests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("drop index if exists kb_chunks_hnsw")
    op.execute(
        "create index kb_chunks_hnsw on kb_chunks using hnsw ((embedding::halfvec(384)) halfvec_cosine_ops)"
        " with (m = 16, ef_construction = 64)"
    )


def downgrade() -> None:
    op.execute("drop index if exists kb_chunks_hnsw")
    op.execute(
        "create index kb_chunks_hnsw on kb_chunks using hnsw (embedding vector_cosine_ops)"
        " with (m = 16, ef_construction = 64)"
    )
