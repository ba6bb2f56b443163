"""Bodies and replies of `/admin/router/versions`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from aiaas.storable import StorableStr, storable_json
from router.versions.repository import TransitionRow, VersionRow

__all__ = [
    "ID_PATTERN",
    "RegisterIn",
    "ActivateIn",
    "ShareIn",
    "RollbackIn",
    "TransitionOut",
    "VersionOut",
    "version_out",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
# What Postgres can store (no NUL, no lone surrogate, 64-bit integers): anything else is a 422, not a 500.
StorableDocument = Annotated[dict[str, Any], AfterValidator(storable_json)]


class RegisterIn(BaseModel):
    """An artifact to register: the document itself, or a path the admin listener can read. One of the two."""

    model_config = ConfigDict(extra="forbid")

    artifact: StorableDocument | None = Field(
        None, description="The artifact document (JSON object, as router-train writes it)."
    )
    artifact_path: StorableStr | None = Field(
        None, min_length=1, max_length=4096, description="A file on the admin listener's host holding the artifact."
    )

    @model_validator(mode="after")
    def _one_source(self) -> RegisterIn:
        if (self.artifact is None) == (self.artifact_path is None):
            raise ValueError("give exactly one of `artifact` and `artifact_path`")
        return self


class ActivateIn(BaseModel):
    """`canary` starts the version on `share` of conversations; `stable` makes it serve the rest (promote)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["canary", "stable"] = "canary"
    share: float | None = Field(None, gt=0, le=1, description="The canary's share of conversations (canary only).")
    reason: StorableStr = Field("", max_length=500)

    @model_validator(mode="after")
    def _share_with_canary(self) -> ActivateIn:
        if self.mode == "canary" and self.share is None:
            raise ValueError("a canary needs a `share` in (0, 1]")
        if self.mode == "stable" and self.share is not None:
            raise ValueError("`share` is for a canary only: a stable version serves every other conversation")
        return self


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    share: float = Field(gt=0, le=1)


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StorableStr = Field("", max_length=500)


class TransitionOut(BaseModel):
    from_status: str | None
    to_status: str
    share: float
    actor: str
    reason: str
    detail: dict[str, Any]
    at: datetime


class VersionOut(BaseModel):
    id: str
    sha256: str
    data_hash: str
    eval_report: dict[str, Any]
    tiers: list[str]
    status: Literal["registered", "canary", "stable", "rolled_back", "retired"]
    share: float
    status_reason: str
    status_detail: dict[str, Any]
    created_at: datetime
    created_by: str
    status_changed_at: datetime
    status_changed_by: str
    activated_at: datetime | None
    artifact_bytes: int
    history: list[TransitionOut] | None = None


def version_out(row: VersionRow, history: list[TransitionRow] | None = None) -> VersionOut:
    return VersionOut(
        id=row.id,
        sha256=row.sha256,
        data_hash=row.data_hash,
        eval_report=row.eval_report,
        tiers=row.tiers,
        status=row.status,  # type: ignore[arg-type]  # the table's check allows exactly the Literal's values
        share=row.share,
        status_reason=row.status_reason,
        status_detail=row.status_detail,
        created_at=row.created_at,
        created_by=row.created_by,
        status_changed_at=row.status_changed_at,
        status_changed_by=row.status_changed_by,
        activated_at=row.activated_at,
        artifact_bytes=row.artifact_bytes,
        history=None if history is None else [TransitionOut(**vars(t)) for t in history],
    )
