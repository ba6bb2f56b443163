"""API-key scopes are explicit: keys holding the old wildcard '*' get the full list, and '*' is refused.

The full list is the tenant scopes of aiaas.scopes at the time of this migration (a literal here: a
migration must not change when the code's constants do). Keys without '*' keep exactly what they hold.

Revision ID: 0010_scopes
Revises: 0002
Create Date: 2026-12-06
"""

from alembic import op

revision = "0010_scopes"
down_revision = "0002"
branch_labels = None
depends_on = None

_ALL = "array['chat', 'billing:read', 'billing:manage', 'analytics:read', 'realtime']::text[]"


def upgrade() -> None:
    # api_keys is under FORCE RLS with policies only for the runtime roles: lift FORCE for the owner's
    # own update, inside this migration's transaction, and put it back.
    op.execute("alter table api_keys no force row level security")
    op.execute(f"update api_keys set scopes = {_ALL} where '*' = any(scopes)")  # noqa: S608  # nosec B608 - a module constant
    op.execute("alter table api_keys force row level security")
    op.execute("alter table api_keys add constraint api_keys_no_wildcard_scope check (not ('*' = any(scopes)))")


def downgrade() -> None:
    # The rewritten keys keep their explicit lists: they grant what '*' granted.
    op.execute("alter table api_keys drop constraint if exists api_keys_no_wildcard_scope")
