"""Injected faults, per request (`X-Toolbox-Fault` header) or per tenant and operation (control API rules).

A fault spec is `key=value` pairs separated by `;` or `,`, e.g. `status=503`, `delay_ms=2000`,
`after_effect=close`, `status=503; fail_times=2`:
  status=S            answer S (400-599) instead of running the request: nothing runs, nothing is stored;
  fail_times=N        only the first N attempts for this idempotency key (or, without a key, these arguments)
                      fail; status defaults to 503;
  delay_ms=D          the backend takes D ms (holding the idempotency key) before it runs: a slow system or a hang;
  after_effect=stall  the request runs and its answer is stored, then the reply is held `stall_ms` (default
                      TOOLBOX_STALL_S) or until the client goes away, then sent;
  after_effect=close  the request runs and its answer is stored, then the connection is closed with no reply;
  after_effect=error  the request runs and its answer is stored, then `status` (default 503) is answered instead:
                      a lost reply; a retry with the same key gets the stored answer;
  retry_after=S       Retry-After seconds on a 429 or 503.
`after_effect` applies only when the request executed (a replay is answered normally). A header overrides rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from aiaas.standin import FaultRules
from toolbox.errors import ToolboxError, invalid

__all__ = ["ANY", "AfterEffect", "FaultRegistry", "FaultRule", "FaultSpec", "injected_error", "parse_fault"]

ANY = "*"
AfterEffect = Literal["stall", "close", "error"]
_AFTER: tuple[AfterEffect, ...] = ("stall", "close", "error")
_MAX_MS = 600_000


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """What to do to one request; all parts optional."""

    status: int | None = None
    fail_times: int | None = None
    delay_ms: int = 0
    after_effect: AfterEffect | None = None
    stall_ms: int | None = None
    retry_after: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be between 400 and 599")
        if self.fail_times is not None and not 1 <= self.fail_times <= 1000:
            raise ValueError("fail_times must be between 1 and 1000")
        if not 0 <= self.delay_ms <= _MAX_MS or (self.stall_ms is not None and not 0 <= self.stall_ms <= _MAX_MS):
            raise ValueError(f"delay_ms and stall_ms must be between 0 and {_MAX_MS}")
        if self.retry_after is not None and not 0 <= self.retry_after <= 3600:
            raise ValueError("retry_after must be between 0 and 3600")
        if self.after_effect is not None and self.fail_times is not None:
            # After the first attempt the answer is stored and replayed: there is no second effect to fail after.
            raise ValueError("after_effect cannot be combined with fail_times")
        if self.after_effect in ("stall", "close") and self.status is not None:
            raise ValueError("after_effect=stall|close cannot be combined with status")
        if self.stall_ms is not None and self.after_effect != "stall":
            raise ValueError("stall_ms needs after_effect=stall")

    @property
    def before_status(self) -> int | None:
        """The status answered instead of running the request, if any."""
        if self.after_effect == "error":
            return None
        if self.fail_times is not None:
            return self.status or 503
        return self.status

    @property
    def after_status(self) -> int:
        return self.status or 503

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_INT_KEYS = ("status", "fail_times", "delay_ms", "stall_ms", "retry_after")


def parse_fault(header: str) -> FaultSpec:
    """The spec in an `X-Toolbox-Fault` header; 400 `invalid_fault` when malformed."""
    values: dict[str, object] = {}
    try:
        for part in header.replace(",", ";").split(";"):
            if not part.strip():
                continue
            name, sep, raw = part.partition("=")
            name, raw = name.strip(), raw.strip()
            if not sep or name in values:
                raise ValueError(f"expected key=value pairs, each key once (got {part.strip()[:40]!r})")
            if name in _INT_KEYS:
                if not raw.isdigit() or len(raw) > 7:
                    raise ValueError(f"{name} must be a non-negative integer")
                values[name] = int(raw)
            elif name == "after_effect":
                if raw not in _AFTER:
                    raise ValueError(f"after_effect must be one of {', '.join(_AFTER)}")
                values[name] = raw
            else:
                raise ValueError(f"unknown fault key {name[:40]!r}")
        if not values:
            raise ValueError("empty fault")
        return FaultSpec(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise invalid("invalid_fault", f"X-Toolbox-Fault: {exc}", "X-Toolbox-Fault") from None


def injected_error(status: int, operation: str, retry_after: int | None) -> ToolboxError:
    """The error an injected fault answers: 5xx and 429 retryable, other 4xx fatal."""
    headers = None
    if status in (429, 503):
        headers = {"Retry-After": str(1 if retry_after is None else retry_after)}
    kind = "transient" if status >= 500 or status == 429 else "fatal"
    return ToolboxError(
        status, "injected_fault", f"Injected {kind} fault on {operation} (status {status}).", headers=headers
    )


@dataclass(slots=True)
class FaultRule:
    """A fault for requests of `tenant` (or `*`) to `operation` (or `*`), `remaining` more times (None = until
    cleared)."""

    id: int
    tenant: str
    operation: str
    spec: FaultSpec
    remaining: int | None
    applied: int = field(default=0)

    def matches(self, tenant: str, operation: str) -> bool:
        return self.tenant in (tenant, ANY) and self.operation in (operation, ANY)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "operation": self.operation,
            "remaining": self.remaining,
            "applied": self.applied,
            **{k: v for k, v in self.spec.as_dict().items() if v is not None},
        }


class FaultRegistry:
    """Ordered rules (the first matching one is used, one use consumed) and per-key attempt counts."""

    def __init__(self) -> None:
        self._rules: FaultRules[FaultRule] = FaultRules()
        self._attempts: dict[tuple[str, str, str], int] = {}

    def add(self, tenant: str, operation: str, spec: FaultSpec, count: int | None) -> FaultRule:
        return self._rules.add(lambda rule_id: FaultRule(rule_id, tenant, operation, spec, count))

    def take(self, tenant: str, operation: str) -> FaultSpec | None:
        rule = self._rules.take(lambda rule: rule.matches(tenant, operation))
        if rule is None:
            return None
        rule.applied += 1
        return rule.spec

    def attempt(self, tenant: str, operation: str, ident: str) -> int:
        """Count one more attempt of this key (or argument fingerprint) and return its number (1-based)."""
        key = (tenant, operation, ident)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        return self._attempts[key]

    def rules(self, tenant: str | None = None) -> list[FaultRule]:
        return [rule for rule in self._rules.rules() if tenant is None or rule.tenant == tenant]

    def clear(self, tenant: str | None = None) -> int:
        """Remove the rules (of one tenant, or all) and their attempt counts; return how many rules."""
        if tenant is None:
            self._attempts.clear()
            return self._rules.clear()
        self._attempts = {k: v for k, v in self._attempts.items() if k[0] != tenant}
        return self._rules.clear(lambda rule: rule.tenant == tenant)
