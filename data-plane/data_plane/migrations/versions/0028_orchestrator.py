"""The orchestrator's runs, their append-only episode record and the write-ahead tool-call ledger (issue 15, §1).

- `orch_runs`: one row per run, UNIQUE (tenant, idempotency_key): the agent and the versions its manifest pinned
  (graph, prompt, tools), model alias, seed, input, a snapshot of the tenant's flags at start, status, output or
  error, the pending interrupt (payload, when it expires) and the resume value the next delivery hands to
  `Command(resume=...)`. `lock_key` (e.g. `order:ORD-1001`) is unique among a tenant's unfinished runs: an order
  in progress is locked against a second run.
- `orch_steps`: append-only (app_runtime may insert and read, never update or delete): each model call, tool call,
  compensation, interrupt and resume of a run with its canonical request and sha256, response, attempt, latency,
  tokens and cost. `step_key` makes an append idempotent (a redelivered step writes one row).
- `tool_calls`: the write-ahead ledger, one row per tool call keyed by `idem_key` (sha256 of tenant, run, node,
  seq, tool, canonical args; `comp:<idem_key>` for a compensation): `requested` is written with its
  `tool.call.requested` outbox event before the call, the outcome with `tool.call.succeeded|failed` after.
  `compensation_of` links a compensation to the call it undoes; `compensation` holds the tool and args that undo
  a succeeded call (recorded with its outcome, run in reverse order by the saga).

All three are under ENABLE + FORCE RLS (app_runtime: the bound tenant; platform_admin: all).

Revision ID: 0028_orchestrator
Revises: 0026_knowledge_base
Create Date: 2026-12-06
"""

from alembic import op

revision = "0028_orchestrator"
down_revision = "0026_knowledge_base"
branch_labels = None
depends_on = None

_TENANT_POLICY = (
    "create policy tenant_isolation on {table} for all to app_runtime "
    "using (tenant_id = app_current_tenant()) with check (tenant_id = app_current_tenant())"
)
_ADMIN_POLICY = "create policy platform_admin_all on {table} for all to platform_admin using (true) with check (true)"

RUN_STATUSES = (
    "'queued', 'running', 'interrupted', 'compensating', 'succeeded', 'failed', 'compensated', 'cancelled', 'expired'"
)
_UNFINISHED = "('queued', 'running', 'interrupted', 'compensating')"


def _protect(table: str, *, runtime_grants: str = "select, insert, update, delete") -> None:
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")
    op.execute(_TENANT_POLICY.format(table=table))
    op.execute(_ADMIN_POLICY.format(table=table))
    op.execute(f"grant {runtime_grants} on {table} to app_runtime")
    op.execute(f"grant select, insert, update, delete on {table} to platform_admin")


def upgrade() -> None:
    op.execute(
        f"""
        create table orch_runs (
            id uuid primary key,
            tenant_id uuid not null references tenants (id) on delete cascade,
            idempotency_key text not null check (length(idempotency_key) between 1 and 255),
            agent text not null check (length(agent) between 1 and 100),
            agent_version integer not null check (agent_version >= 1),
            versions jsonb not null default '{{}}'::jsonb,
            model_alias text not null,
            seed bigint not null,
            input jsonb not null,
            input_sha256 text not null check (length(input_sha256) = 64),
            flags jsonb not null default '{{}}'::jsonb,
            status text not null check (status in ({RUN_STATUSES})),
            output jsonb,
            error jsonb,
            interrupt jsonb,
            interrupt_expires_at timestamptz,
            resume_value jsonb,
            cancel_requested boolean not null default false,
            lock_key text,
            deliveries integer not null default 0 check (deliveries >= 0),
            created_at timestamptz not null,
            updated_at timestamptz not null,
            started_at timestamptz,
            finished_at timestamptz,
            unique (tenant_id, idempotency_key),
            unique (tenant_id, id)
        )
        """
    )
    op.execute("create index orch_runs_listing on orch_runs (tenant_id, created_at, id)")
    op.execute(
        f"create unique index orch_runs_lock on orch_runs (tenant_id, lock_key) "
        f"where lock_key is not null and status in {_UNFINISHED}"
    )
    op.execute(
        "create index orch_runs_interrupt_expiry on orch_runs (interrupt_expires_at) where status = 'interrupted'"
    )
    op.execute("create index orch_runs_finished on orch_runs (tenant_id, finished_at) where finished_at is not null")
    _protect("orch_runs")

    op.execute(
        """
        create table orch_steps (
            id bigint generated always as identity primary key,
            tenant_id uuid not null references tenants (id) on delete cascade,
            run_id uuid not null,
            step_key text not null check (length(step_key) between 1 and 300),
            node text not null,
            kind text not null check (kind in ('llm', 'tool', 'compensation', 'retrieve', 'interrupt', 'resume')),
            request jsonb not null,
            request_sha256 text not null check (length(request_sha256) = 64),
            response jsonb,
            status text not null check (status in ('ok', 'error')),
            error_class text,
            attempt integer not null default 1 check (attempt >= 1),
            latency_ms double precision check (latency_ms >= 0),
            tokens_in integer not null default 0 check (tokens_in >= 0),
            tokens_out integer not null default 0 check (tokens_out >= 0),
            cost_usd numeric(20, 10) not null default 0 check (cost_usd >= 0),
            created_at timestamptz not null,
            unique (tenant_id, run_id, step_key),
            foreign key (tenant_id, run_id) references orch_runs (tenant_id, id) on delete cascade
        )
        """
    )
    op.execute("create index orch_steps_run on orch_steps (tenant_id, run_id, id)")
    # Append-only for the services: no update, no delete (platform_admin keeps them for retention).
    _protect("orch_steps", runtime_grants="select, insert")

    op.execute(
        """
        create table tool_calls (
            id uuid primary key,
            tenant_id uuid not null references tenants (id) on delete cascade,
            run_id uuid not null,
            node text not null,
            seq integer not null check (seq >= 0),
            tool text not null,
            args jsonb not null,
            idem_key text not null check (length(idem_key) between 1 and 255),
            side_effect boolean not null,
            status text not null check (status in ('requested', 'succeeded', 'failed')),
            attempts integer not null default 0 check (attempts >= 0),
            result jsonb,
            error_class text check (error_class in ('retryable', 'fatal', 'timeout', 'circuit_open',
                                                    'bulkhead_full')),
            error jsonb,
            will_compensate boolean not null default false,
            compensation jsonb,
            compensation_of uuid,
            requested_at timestamptz not null,
            completed_at timestamptz,
            unique (tenant_id, idem_key),
            unique (tenant_id, id),
            foreign key (tenant_id, run_id) references orch_runs (tenant_id, id) on delete cascade
        )
        """
    )
    op.execute("create index tool_calls_run on tool_calls (tenant_id, run_id, requested_at)")
    _protect("tool_calls")


def downgrade() -> None:
    op.execute("drop table if exists tool_calls")
    op.execute("drop table if exists orch_steps")
    op.execute("drop table if exists orch_runs")
