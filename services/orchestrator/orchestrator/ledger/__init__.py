"""The write-ahead tool-call ledger (`tool_calls`) and the episode record (`orch_steps`) of runs."""

from orchestrator.ledger.crash import CrashPoint
from orchestrator.ledger.keys import canonical_json, compensation_key, idem_key, sha256_of
from orchestrator.ledger.service import STEP_LATENCY, CallOutcome, Ledger, LLMStepFailed, RunRef

__all__ = [
    "STEP_LATENCY",
    "CallOutcome",
    "CrashPoint",
    "LLMStepFailed",
    "Ledger",
    "RunRef",
    "canonical_json",
    "compensation_key",
    "idem_key",
    "sha256_of",
]
