"""The knowledge base meters embedding tokens: what each ingest spent, and the key it is billed to.

- `kb_documents.embedding_tokens`: the tokens the last ingest of the document encoded (the embedder's own
  tokenizer, [CLS]/[SEP] included, at most the model's 256 per text), only for texts actually embedded: a chunk
  whose vector was reused costs 0. Each ingest that spends tokens also writes a `usage.recorded` outbox event.
- `kb_documents.api_key_id`: the API key that uploaded the current version (the usage event's key); null on rows
  from before this revision.

Both tables keep their RLS; the columns need no grant of their own.

Revision ID: 0029_kb_embedding_tokens
Revises: 0026_knowledge_base
Create Date: 2026-12-06
"""

from alembic import op

revision = "0029_kb_embedding_tokens"
down_revision = "0026_knowledge_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "alter table kb_documents add column embedding_tokens bigint not null default 0 check (embedding_tokens >= 0)"
    )
    op.execute("alter table kb_documents add column api_key_id uuid")


def downgrade() -> None:
    op.execute("alter table kb_documents drop column api_key_id")
    op.execute("alter table kb_documents drop column embedding_tokens")
