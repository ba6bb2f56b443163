"""Model aliases can be deprecated and deleted: every version carries the alias's status.

A status change is a new version like any other (same config, the admin key's name in `created_by`),
so the registry's history is its audit: `active` (served), `deprecated` (refused with a pointer to
`replacement`, gone from `/v1/models`), `deleted` (a tombstone: the alias is unknown again; a later PUT
brings it back as a new version). Existing rows are `active`.

Revision ID: 0019_model_registry_status
Revises: 0011_money_units
Create Date: 2026-12-06
"""

from alembic import op

revision = "0019_model_registry_status"
down_revision = "0011_money_units"
branch_labels = None
depends_on = None

_NAME = r"^[a-z0-9][a-z0-9_.-]{0,99}$"


def upgrade() -> None:
    op.execute(
        "alter table model_registry add column status text not null default 'active'"
        " check (status in ('active', 'deprecated', 'deleted'))"
    )
    op.execute(f"alter table model_registry add column replacement text check (replacement ~ '{_NAME}')")
    op.execute(
        "alter table model_registry add constraint model_registry_replacement_only_when_deprecated"
        " check (replacement is null or status = 'deprecated')"
    )


def downgrade() -> None:
    op.execute("alter table model_registry drop column replacement")
    op.execute("alter table model_registry drop column status")
