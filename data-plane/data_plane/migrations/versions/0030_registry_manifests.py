"""Registry manifests: `manifest jsonb` on `agent_registry` and `tool_registry` (issue 15, §1).

An agent version may carry its full manifest (graph, pinned graph/prompt/tool versions, model alias, I/O JSON
Schemas: orchestrator.agents.manifest.AgentManifest, validated by the control plane at `PUT /admin/agents/{name}`);
a tool version its tool manifest. Null for the versions written before, and for entries without one: the
orchestrator then uses its built-in manifest of that name. The tables stay catalogues (app_runtime reads them,
0006_control_plane), so the orchestrator's runtime role can read the manifests.

Revision ID: 0030_registry_manifests
Revises: 0028_orchestrator
Create Date: 2026-12-06
"""

from alembic import op

revision = "0030_registry_manifests"
down_revision = "0028_orchestrator"
branch_labels = None
depends_on = None

_TABLES = ("agent_registry", "tool_registry")


def upgrade() -> None:
    for table in _TABLES:
        op.execute(
            f"alter table {table} add column manifest jsonb"
            " check (manifest is null or jsonb_typeof(manifest) = 'object')"
        )


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"alter table {table} drop column if exists manifest")
