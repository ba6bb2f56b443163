"""The orchestrator's engine: `Engine.execute(spec, command, hooks)` runs one command of one run (the worker's
contract, /work/notes/orch_design.md "Engine contract")."""

from orchestrator.engine.runner import FAQ_EXIT_FLAG, Engine, durability_for
from orchestrator.engine.types import Command, RunHooks, RunOutcome, RunSpec, RunStatus, StepFailed

__all__ = [
    "FAQ_EXIT_FLAG",
    "Command",
    "Engine",
    "RunHooks",
    "RunOutcome",
    "RunSpec",
    "RunStatus",
    "StepFailed",
    "durability_for",
]
