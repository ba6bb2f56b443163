"""Load golden task files and rubrics, validated: a bad file is a `TaskFileError` naming the file and the place.

A task file must parse as YAML, validate against `evals/schemas/golden_task.schema.json`, be named after its `id`
and live under `golden/<agent>/`; its knowledge-base fixtures must exist; its `judge.rubric` must name a rubric
file `evals/rubrics/<name>@v<n>.yaml` that validates against `rubric.schema.json` and says the same name and
version. Ids are unique by construction (file name = id, one folder per agent).
The gate turns a `TaskFileError` into exit code 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from evals.jsonpath import JsonPathError, compile_path

__all__ = [
    "EVALS_DIR",
    "GOLDEN_DIR",
    "REPO_ROOT",
    "RUBRICS_DIR",
    "SCHEMAS_DIR",
    "GoldenTask",
    "TaskFileError",
    "load_rubric",
    "load_task",
    "load_tasks",
]

EVALS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = EVALS_DIR.parent
GOLDEN_DIR = EVALS_DIR / "golden"
RUBRICS_DIR = EVALS_DIR / "rubrics"
SCHEMAS_DIR = EVALS_DIR / "schemas"


class TaskFileError(ValueError):
    """A task or rubric file that cannot be used: `path` is the file, `where` the place in it (`$` for all)."""

    def __init__(self, path: Path, where: str, message: str) -> None:
        self.path = path
        self.where = where
        self.detail = message
        super().__init__(f"{_shown(path)}: at {where}: {message}")


@dataclass(frozen=True, slots=True)
class GoldenTask:
    path: Path
    data: dict[str, Any]
    rubric: dict[str, Any] | None

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def agent(self) -> str:
        return str(self.data["agent"])

    @property
    def critical(self) -> bool:
        return bool(self.data["critical"])


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


@lru_cache(maxsize=4)
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _where(error: ValidationError) -> str:
    where = "$"
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaskFileError(path, "$", f"cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "$"
        raise TaskFileError(path, where, f"is not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise TaskFileError(path, "$", "must be a YAML mapping")
    return data


def _validate(path: Path, data: dict[str, Any], schema: str) -> None:
    error = best_match(_validator(schema).iter_errors(data))
    if error is not None:
        raise TaskFileError(path, _where(error), error.message[:300])


def load_rubric(reference: str, rubrics_dir: Path = RUBRICS_DIR) -> dict[str, Any]:
    """The rubric `<name>@v<n>`, validated; TaskFileError naming the rubric file when it is missing or invalid."""
    path = rubrics_dir / f"{reference}.yaml"
    if not path.is_file():
        raise TaskFileError(path, "$", f"rubric {reference!r} does not exist")
    data = _read_yaml(path)
    _validate(path, data, "rubric.schema.json")
    if f"{data['name']}@v{data['version']}" != reference:
        raise TaskFileError(path, "$.name", f"says {data['name']}@v{data['version']}, the file name {reference}")
    ids = [criterion["id"] for criterion in data["criteria"]]
    if len(set(ids)) != len(ids):
        raise TaskFileError(path, "$.criteria", "criterion ids must be unique")
    return data


def _check_paths(path: Path, data: dict[str, Any]) -> None:
    for index, assertion in enumerate(data["assert"]):
        if "path" in assertion:
            try:
                compile_path(assertion["path"])
            except JsonPathError as exc:
                raise TaskFileError(path, f"$.assert[{index}].path", str(exc)) from None
    for index, name in enumerate(data.get("fixtures", {}).get("knowledge_base", [])):
        if not (REPO_ROOT / name).is_file():
            raise TaskFileError(path, f"$.fixtures.knowledge_base[{index}]", f"no file {name!r} in the repository")


def load_task(path: Path, rubrics_dir: Path = RUBRICS_DIR) -> GoldenTask:
    """One task file, validated against the schema, its fixtures and its rubric."""
    data = _read_yaml(path)
    _validate(path, data, "golden_task.schema.json")
    if path.stem != data["id"]:
        raise TaskFileError(path, "$.id", f"must equal the file name {path.stem!r}, not {data['id']!r}")
    if path.parent.name != data["agent"]:
        raise TaskFileError(path, "$.agent", f"{data['agent']!r} task under {path.parent.name}/")
    _check_paths(path, data)
    rubric = None
    if "judge" in data:
        try:
            rubric = load_rubric(data["judge"]["rubric"], rubrics_dir)
        except TaskFileError as exc:
            raise TaskFileError(path, "$.judge.rubric", f"{exc}") from None
    return GoldenTask(path=path, data=data, rubric=rubric)


def load_tasks(golden_dir: Path = GOLDEN_DIR, rubrics_dir: Path = RUBRICS_DIR) -> list[GoldenTask]:
    """Every `golden/<agent>/*.yaml`, sorted by path; TaskFileError on the first bad file."""
    return [load_task(path, rubrics_dir) for path in sorted(golden_dir.glob("*/*.yaml"))]
