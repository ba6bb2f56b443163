"""The CI gate (`python -m evals gate`): thresholds (`config`), statistics (`stats`), criteria and verdict
(`criteria`), the JSON report and its Markdown (`report`, `markdown`), one whole run (`run`)."""

from evals.gate.criteria import EXIT_ERROR, EXIT_PASS, EXIT_REGRESSION
from evals.gate.run import GateOptions, GateRun, run_gate

__all__ = ["EXIT_ERROR", "EXIT_PASS", "EXIT_REGRESSION", "GateOptions", "GateRun", "run_gate"]
