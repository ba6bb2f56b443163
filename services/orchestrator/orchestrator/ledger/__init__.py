"""The write-ahead tool-call ledger (`tool_calls`) and the episode record (`orch_steps`) of runs."""

from orchestrator.ledger.crash import CrashPoint
from orchestrator.ledger.keys import call_fingerprint, canonical_json, compensation_key, idem_key, sha256_of
from orchestrator.ledger.record import STEP_LATENCY, EpisodeRecord, LLMStepFailed, Outbound, RunRef, deferred_events
from orchestrator.ledger.service import CallOutcome, Ledger

__all__ = [
    "Outbound",
    "deferred_events",
    "STEP_LATENCY",
    "CallOutcome",
    "CrashPoint",
    "EpisodeRecord",
    "LLMStepFailed",
    "Ledger",
    "RunRef",
    "call_fingerprint",
    "canonical_json",
    "compensation_key",
    "idem_key",
    "sha256_of",
]
