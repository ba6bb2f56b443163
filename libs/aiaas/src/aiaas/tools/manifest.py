"""`ToolManifest`: what the tool adapter needs to know to call one business tool.

A manifest is environment-neutral: it names the `dependency` (the backend service the tool calls,
which is also the circuit breaker's key) and a `path` template; the deployment maps each dependency
to a base URL (`ToolAdapter(base_urls={...})`). The control plane's `/admin/tools/{name}` registry
(versioned, with input/output JSON Schemas) is meant to be extended into this shape.

Arguments: the `{placeholders}` of `path` are filled from the call's arguments (URL-quoted); the
other arguments go in the query string for GET/DELETE and as the JSON body for POST/PUT/PATCH.
"""

from __future__ import annotations

import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ToolLimits", "ToolManifest"]


class ToolLimits(BaseModel):
    """Resilience limits of one tool (defaults: the issue's figures).

    - `concurrency`: the bulkhead, calls of this tool in flight at once in one adapter; one more
      fails at once with `bulkhead_full` (there is no queue);
    - `timeout_s`: the timeout of each attempt (connect, send, read the whole answer);
    - `max_attempts`: attempts in all, the first included (1 = never retry);
    - `retry_base_s`, `retry_cap_s`: full-jitter back-off, the sleep before retry n (0-based) is
      uniform(0, min(cap, base * 2**n)).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(default=10, ge=1, le=10_000)
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    max_attempts: int = Field(default=3, ge=1, le=10)
    retry_base_s: float = Field(default=0.2, ge=0, le=60)
    retry_cap_s: float = Field(default=5.0, ge=0, le=600)


_METHODS = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class ToolManifest(BaseModel):
    """One business tool: name, backend dependency, HTTP method and path template, side effect, limits.

    `side_effect=True` means a call changes the backend's data: such a call is retried only when
    the caller gives an idempotency key (sent as `Idempotency-Key`, the same on every attempt).
    `input_schema`/`output_schema` are carried for the registry and the orchestrator; the adapter
    does not validate against them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    dependency: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    method: _METHODS = "GET"
    path: str = Field(min_length=1, max_length=1024)
    side_effect: bool = False
    limits: ToolLimits = ToolLimits()
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("path must start with '/' (the base URL comes from the dependency)")
        for _literal, field, spec, conversion in string.Formatter().parse(path):
            if field is not None and (not field.isidentifier() or spec or conversion):
                raise ValueError(f"path placeholders must be plain names like {{order_id}}, not {field!r}")
        return path

    @model_validator(mode="after")
    def _cap(self) -> ToolManifest:
        if self.limits.retry_cap_s < self.limits.retry_base_s:
            raise ValueError("limits.retry_cap_s must be >= limits.retry_base_s")
        return self

    @property
    def path_params(self) -> tuple[str, ...]:
        """The names of the path's `{placeholders}`, in order."""
        return tuple(field for _l, field, _s, _c in string.Formatter().parse(self.path) if field)
