"""The rubric judge (issue 16, §3): production prompt, strict parser, code-computed scores, cache, calibration."""

from evals.judge.calibration import load_calibration_status
from evals.judge.errors import JudgeCallCapExceeded, JudgeCallError, JudgeError, JudgeParseError
from evals.judge.judge import Judge, JudgeResult, JudgeSettings

__all__ = [
    "Judge",
    "JudgeCallCapExceeded",
    "JudgeCallError",
    "JudgeError",
    "JudgeParseError",
    "JudgeResult",
    "JudgeSettings",
    "load_calibration_status",
]
