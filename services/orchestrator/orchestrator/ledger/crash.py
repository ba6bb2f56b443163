"""The test-only crash point of acceptance 2: die right after the toolbox answered, before anything is recorded.

`ORCH_TEST_CRASH_AT="<node>:after_effect"` makes the process `os._exit(137)` (what a SIGKILL looks like to its
parent) once a tool call of `<node>` has its answer and before the ledger's outcome and the checkpoint are
written. It is honoured only with `ORCH_TEST_HOOKS=1` (`OrchestratorSettings.test_hooks`), so no single deployed
setting can arm it.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["CrashPoint"]

log = logging.getLogger(__name__)


class CrashPoint:
    """Exit the process at `<node>:after_effect` (disarmed when `target` is None)."""

    def __init__(self, target: str | None) -> None:
        self.target = target or None

    @classmethod
    def from_settings(cls, *, test_hooks: bool, test_crash_at: str) -> CrashPoint:
        return cls(test_crash_at if test_hooks else None)

    def after_effect(self, node: str) -> None:
        if self.target is not None and self.target == f"{node}:after_effect":
            log.warning("test crash point reached", extra={"at": self.target})
            sys.stderr.flush()
            os._exit(137)
