"""How a request's deadline is shared between attempts so the next deployment is always tried in time.

The rule (the gateway applies it per attempt; the gateway at load and the control plane at the registry
PUT refuse a configuration that breaks it):

- A deployment's worst case is `retry_attempts` attempts of its `timeout_s` (or the default upstream
  timeout) plus the largest back-off before each retry.
- Every deployment that has another one after it must leave `failover_min_room_s` of the request
  deadline: `worst case + failover_min_room_s <= request_deadline_s`. Otherwise it is refused (a hung
  deployment would use up the deadline and the next one would never be tried).
- At run time an attempt on a deployment with N deployments after it is given at most
  `remaining deadline - N * failover_min_room_s` (its configured timeout if smaller); when that is not
  positive the deployment is skipped. A timed-out attempt is not retried on the same deployment while
  another one follows (a hang is not transient: the time goes to the next deployment).
- A stream's time to its first content (role-only and empty chunks do not count) is limited by the
  deployment's `first_byte_timeout_s` or the default `stream_first_byte_timeout_s`, never more than the
  attempt's timeout; until that first content it fails over like a non-streaming request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiaas.resilience.retry import RetryPolicy

__all__ = ["FailoverBudget", "FailoverProblem", "TimedDeployment"]


@dataclass(frozen=True)
class TimedDeployment:
    """The part of a deployment the budget looks at."""

    name: str
    timeout_s: float | None = None
    first_byte_timeout_s: float | None = None


@dataclass(frozen=True)
class FailoverProblem:
    """A deployment (by index) whose `field` leaves no room for failover, and why."""

    index: int
    field: str
    message: str


class FailoverBudget(BaseSettings):
    """The gateway's deadline, timeout and retry settings (env `GATEWAY_*`, also read by the control plane)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore", populate_by_name=True)

    # Whole-request budget across retries and failover.
    request_deadline_s: float = Field(60.0, gt=0)
    # One attempt's limit when its deployment sets no `timeout_s`.
    upstream_timeout_s: float = Field(25.0, gt=0)
    retry_attempts: int = Field(2, ge=1)
    retry_base_delay_s: float = Field(0.05, ge=0)
    retry_max_delay_s: float = Field(1.0, ge=0)
    # Time to a stream's first content when its deployment sets no `first_byte_timeout_s`.
    stream_first_byte_timeout_s: float = Field(10.0, gt=0)
    # Deadline kept for each deployment after the one being tried.
    failover_min_room_s: float = Field(5.0, ge=0)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.retry_attempts, base_delay=self.retry_base_delay_s, max_delay=self.retry_max_delay_s
        )

    def worst_case_s(self, timeout_s: float | None) -> float:
        """Longest a deployment can take: every attempt timing out, plus the longest back-offs between them."""
        policy = self.retry_policy()
        backoff = sum(policy.ceiling(n) for n in range(self.retry_attempts - 1))
        return self.retry_attempts * (timeout_s or self.upstream_timeout_s) + backoff

    def problems(self, deployments: Sequence[TimedDeployment]) -> list[FailoverProblem]:
        """Why this ordered group of deployments cannot always fail over inside the deadline (empty = it can)."""
        found: list[FailoverProblem] = []
        for index, dep in enumerate(deployments[:-1]):
            worst = self.worst_case_s(dep.timeout_s)
            if worst + self.failover_min_room_s > self.request_deadline_s:
                found.append(
                    FailoverProblem(
                        index,
                        "timeout_s",
                        f"deployment {dep.name!r}: {self.retry_attempts} attempts of"
                        f" {dep.timeout_s or self.upstream_timeout_s:g} s (+ back-off) = {worst:g} s leave less than"
                        f" {self.failover_min_room_s:g} s of the {self.request_deadline_s:g} s request deadline for"
                        " the next deployment; lower timeout_s"
                        " (or GATEWAY_UPSTREAM_TIMEOUT_S / GATEWAY_RETRY_ATTEMPTS)",
                    )
                )
        for index, dep in enumerate(deployments):
            first_byte = dep.first_byte_timeout_s
            if first_byte is not None and first_byte > (dep.timeout_s or self.upstream_timeout_s):
                found.append(
                    FailoverProblem(
                        index,
                        "first_byte_timeout_s",
                        f"deployment {dep.name!r}: first_byte_timeout_s {first_byte:g} s exceeds its attempt"
                        f" timeout {dep.timeout_s or self.upstream_timeout_s:g} s",
                    )
                )
        return found

    def attempt_timeout_s(self, timeout_s: float | None, remaining_s: float, deployments_after: int) -> float:
        """This attempt's limit: its timeout, capped so each later deployment keeps its room (<= 0: skip it)."""
        own = timeout_s or self.upstream_timeout_s
        return min(own, remaining_s - deployments_after * self.failover_min_room_s)

    def first_byte_timeout(self, first_byte_timeout_s: float | None, attempt_timeout_s: float) -> float:
        """How long a stream may take to its first content on this attempt."""
        return min(first_byte_timeout_s or self.stream_first_byte_timeout_s, attempt_timeout_s)
