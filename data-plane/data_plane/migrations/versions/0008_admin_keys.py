"""Platform-admin keys: named, hashed (SHA-256, like API keys), revocable.

Not a tenant table, and no service role may read or write it: the database owner manages it
(`python -m data_plane admin-keys ...`), and services resolve a bearer only through the
SECURITY DEFINER function `auth_lookup_admin_key`, owned by the NOLOGIN `key_resolver` role (the
pattern of `auth_lookup_api_key` in 0001). RLS is on and forced like on every table: the owner and
key_resolver have their own policies, every other role none.

Revision ID: 0008_admin_keys
Revises: 0002
Create Date: 2026-12-06
"""

from alembic import op

revision = "0008_admin_keys"
down_revision = "0002"
branch_labels = None
depends_on = None

# Names become audit actors: short, printable, no spaces.
_NAME = r"^[a-z0-9][a-z0-9_.@-]{0,99}$"


def upgrade() -> None:
    op.execute(
        f"""
        create table admin_keys (
            id uuid primary key default gen_random_uuid(),
            name text not null unique check (name ~ '{_NAME}'),
            prefix text not null,
            key_hash text not null unique,
            created_at timestamptz not null default now(),
            created_by text not null check (length(created_by) between 1 and 200),
            revoked_at timestamptz
        )
        """
    )
    op.execute("revoke all on admin_keys from public")
    op.execute("alter table admin_keys enable row level security")
    op.execute("alter table admin_keys force row level security")
    # FORCE binds the owner too: it is the one role that creates, lists and revokes keys.
    op.execute("create policy owner_all on admin_keys for all to current_user using (true) with check (true)")
    op.execute("grant select on admin_keys to key_resolver")
    op.execute("create policy key_lookup on admin_keys for select to key_resolver using (true)")
    op.execute(
        """
        create function auth_lookup_admin_key(p_key_hash text)
        returns table (key_id uuid, name text, active boolean)
        language sql stable security definer
        set search_path = public, pg_temp
        as $$
            select k.id, k.name, k.revoked_at is null from admin_keys k where k.key_hash = p_key_hash
        $$
        """
    )
    op.execute("alter function auth_lookup_admin_key(text) owner to key_resolver")
    op.execute("revoke all on function auth_lookup_admin_key(text) from public")
    op.execute("grant execute on function auth_lookup_admin_key(text) to app_runtime, platform_admin")


def downgrade() -> None:
    op.execute("drop function if exists auth_lookup_admin_key(text)")
    op.execute("drop table if exists admin_keys")
