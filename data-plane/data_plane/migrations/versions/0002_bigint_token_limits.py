"""Token-per-minute limits as bigint (a busy tenant's TPM exceeds 2^31).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table tenants alter column rate_limit_tpm type bigint")
    op.execute("alter table api_keys alter column tpm_limit type bigint")


def downgrade() -> None:
    op.execute("alter table api_keys alter column tpm_limit type integer")
    op.execute("alter table tenants alter column rate_limit_tpm type integer")
