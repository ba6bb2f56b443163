"""What a graph's nodes get at run time (LangGraph's `Runtime.context`): the run and its recorded calls.

Nodes never call a tool or a model directly: `ctx.node(name)` gives a `NodeScope` that numbers the node's calls
(seq 0, 1, ... in the order the node makes them, the same on every re-execution of the node) and sends each through
the ledger, so a node that runs again (a crash, a resume) answers from the record instead of calling twice. Nodes
read business time only through `NodeScope.now()` (the injectable clock, recorded), never the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.engine.types import RunHooks, RunSpec, StepFailed
from orchestrator.ledger import Ledger, LLMStepFailed, RunRef
from orchestrator.llm import GatewayLLM, LLMReply
from orchestrator.tools_catalog import TOOLS

__all__ = ["NodeScope", "RunContext", "Tally"]


@dataclass
class Tally:
    """What this execution recorded: tool_calls rows it created, model calls answered ok, their tokens. For a
    run's first execution these are the run's totals (nothing was recorded before it)."""

    tool_calls: int = 0
    llm_calls: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class RunContext:
    """One execution of one run."""

    spec: RunSpec
    run: RunRef
    ledger: Ledger
    llm: GatewayLLM
    hooks: RunHooks
    clock: Callable[[], datetime]
    # How long a side-effecting call is retried (same key) before its non-fatal failure ends the run.
    forward_recovery_s: float
    # How long a read whose failure a retry may cure is retried: a full bulkhead (more runs in flight than the tool's
    # concurrency) or an open breaker refused it before any request was sent.
    read_recovery_s: float
    tally: Tally = field(default_factory=Tally)

    def node(self, name: str) -> NodeScope:
        return NodeScope(self, name)


class NodeScope:
    """The calls of one node execution, numbered in order."""

    def __init__(self, ctx: RunContext, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self._seq = 0
        self._readings = 0

    def _next(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    async def tool(self, tool: str, args: dict[str, Any], *, kind: str = "tool") -> Any:
        """The tool's result; `StepFailed` when it failed for good.

        A side-effecting call whose failure a retry may cure (retryable, timeout, circuit_open, bulkhead_full) is
        called again with its key until `forward_recovery_s` has passed (forward recovery): its effect may have
        happened, and only asking again with the same key tells. A read is retried the same way for
        `read_recovery_s` (its tool deadline): more runs in flight than a tool's bulkhead admits must wait, not fail.
        """
        ctx = self.ctx
        await ctx.hooks.heartbeat()
        horizon = ctx.forward_recovery_s if TOOLS[tool].side_effect else ctx.read_recovery_s
        retry_until = time.monotonic() + horizon
        outcome = await ctx.ledger.call(
            ctx.run,
            node=self.name,
            seq=self._next(),
            tool=tool,
            args=args,
            kind=kind,
            retry_until=retry_until,
            heartbeat=ctx.hooks.heartbeat,
        )
        if not outcome.stored:
            ctx.tally.tool_calls += 1
        if not outcome.ok:
            error = outcome.error or {}
            raise StepFailed(
                self.name,
                str(error.get("code") or outcome.error_class or "tool_failed"),
                str(error.get("message") or "tool call failed"),
                tool=tool,
                error_class=outcome.error_class,
            )
        return outcome.result

    async def llm(self, messages: list[dict[str, str]], *, max_tokens: int = 256) -> dict[str, Any]:
        """The model's answer `{text, model, request_id, tokens_in, tokens_out}`; `StepFailed` when the call failed."""
        ctx = self.ctx
        await ctx.hooks.heartbeat()
        step = f"{self.name}#{self._next()}"
        spec = ctx.spec
        request = {"model": spec.model_alias, "messages": messages, "seed": spec.seed, "max_tokens": max_tokens}

        async def call() -> LLMReply:
            return await ctx.llm.chat(
                tenant_id=spec.tenant_id,
                run_id=spec.run_id,
                step=step,
                model=spec.model_alias,
                messages=messages,
                seed=spec.seed,
                max_tokens=max_tokens,
            )

        try:
            reply = await ctx.ledger.llm(
                ctx.run, node=self.name, step_key=step, request=request, call=call, look_up=not spec.first_execution
            )
        except LLMStepFailed as exc:
            raise StepFailed(self.name, exc.code, exc.message, error_class="llm") from None
        ctx.tally.llm_calls += 1
        ctx.tally.tokens += int(reply.get("tokens_in") or 0) + int(reply.get("tokens_out") or 0)
        return reply

    async def now(self) -> datetime:
        """Business time for this node: the run's injectable clock, each reading recorded in order
        (`<node>:clock#<n>`); a re-executed node (and a replay) reads the recorded time again."""
        ctx = self.ctx
        step = f"{self.name}:clock#{self._readings}"
        self._readings += 1
        return await ctx.ledger.clock_reading(
            ctx.run, node=self.name, step_key=step, read=ctx.clock, look_up=not ctx.spec.first_execution
        )

    async def record(self, kind: str, request: dict[str, Any], response: Any = None) -> None:
        """An interrupt or resume step of this node in the episode record (once per run)."""
        await self.ctx.ledger.record(
            self.ctx.run, step_key=f"{self.name}:{kind}", node=self.name, kind=kind, request=request, response=response
        )
