"""Names of the rule models (no imports, so the simulator's state can list them without a cycle)."""

__all__ = ["DEGRADED_POLICY", "JUDGE", "POLICY", "RULE_MODELS"]

POLICY = "sim-policy-v1"
DEGRADED_POLICY = "sim-policy-v1-degraded"
JUDGE = "sim-judge-v1"
RULE_MODELS = (POLICY, DEGRADED_POLICY, JUDGE)
