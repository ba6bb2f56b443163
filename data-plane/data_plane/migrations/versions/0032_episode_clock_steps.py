"""The episode record keeps the clock readings nodes make (issue 16 §5): `orch_steps.kind` admits `clock`.

A node that reads business time (Lead's next business day) reads it through the run's injectable clock, and each
reading is one append-only step row (`<node>:clock#<n>`, response `{"at": <iso>}`), so a replay gets the same
time. The table's RLS (ENABLE + FORCE, app_runtime: the bound tenant, insert and select only) is unchanged: only
the check constraint is replaced.

Revision ID: 0032_episode_clock_steps
Revises: 0031_kb_chunks_halfvec_hnsw
Create Date: 2026-12-07
"""

from alembic import op

revision = "0032_episode_clock_steps"
down_revision = "0031_kb_chunks_halfvec_hnsw"
branch_labels = None
depends_on = None

_KINDS = "'llm', 'tool', 'compensation', 'retrieve', 'interrupt', 'resume'"


def upgrade() -> None:
    op.execute("alter table orch_steps drop constraint if exists orch_steps_kind_check")
    op.execute(f"alter table orch_steps add constraint orch_steps_kind_check check (kind in ({_KINDS}, 'clock'))")


def downgrade() -> None:
    op.execute("delete from orch_steps where kind = 'clock'")
    op.execute("alter table orch_steps drop constraint if exists orch_steps_kind_check")
    op.execute(f"alter table orch_steps add constraint orch_steps_kind_check check (kind in ({_KINDS}))")
