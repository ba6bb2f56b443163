"""The golden-task runner: the platform (`stack`), the calls it makes (`platform`), the agents' model
(`agents`), one task and many (`runner`), and one whole evaluation with the judge (`session`)."""

from evals.runner.runner import RunSettings, TaskResult, run_task, run_tasks

__all__ = ["RunSettings", "TaskResult", "run_task", "run_tasks"]
