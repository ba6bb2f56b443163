"""Usage rows name the orchestrator run and step a platform service's model call was for.

* `requests.orch_run_id` (uuid) and `requests.orch_step` (text): set when the orchestrator's service credential
  called the gateway with `x-aiaas-run-id` / `x-aiaas-step` (the usage event's `orch_run_id`, `orch_step`); null
  on every other row. The event schema validates them; no check here could stop the usage writer.
* `requests_tenant_orch_run`: a run's calls, (tenant_id, orch_run_id) where orch_run_id is not null (a partial
  index: the rows without a run cost it nothing).

Revision ID: 0027_requests_orch_step
Revises: 0026_knowledge_base
Create Date: 2026-12-06
"""

from alembic import op

revision = "0027_requests_orch_step"
down_revision = "0026_knowledge_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table requests add column orch_run_id uuid")
    op.execute("alter table requests add column orch_step text")
    op.execute(
        "create index requests_tenant_orch_run on requests (tenant_id, orch_run_id) where orch_run_id is not null"
    )


def downgrade() -> None:
    op.execute("drop index if exists requests_tenant_orch_run")
    op.execute("alter table requests drop column orch_step")
    op.execute("alter table requests drop column orch_run_id")
