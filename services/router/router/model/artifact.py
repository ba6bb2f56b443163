"""The router model artifact: one JSON document, sealed by the sha256 of its canonical form.

Layout (format `aiaas-router-artifact/1`):

    {"format": "aiaas-router-artifact/1", "kind": "linear" | "constant", "version": "router-v1",
     "tiers": ["cheap", "strong"], "data_hash": "<sha256 of the training files>", "eval_report": {...},
     "model": {...kind-specific weights...}, "sha256": "<hex>"}

`sha256` is the hex digest of the canonical JSON (sorted keys, no spaces, ASCII) of the document without the
`sha256` key, so any edit of weights, tiers or report is detected at load. Arrays are little-endian float32
packed as base64 (`{"dtype": "float32", "shape": [...], "b64": "..."}`): compact and exact. No data rows are
stored: weights, IDF, centroids and aggregate metrics only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "ArtifactError",
    "canonical_json",
    "decode_array",
    "encode_array",
    "payload_sha256",
    "read_document",
    "seal",
    "write_document",
]

FORMAT = "aiaas-router-artifact/1"


class ArtifactError(Exception):
    """The artifact is missing, unreadable, malformed, or its sha256 does not match its content."""


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, ASCII only: the bytes the seal is computed over."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def payload_sha256(document: Mapping[str, Any]) -> str:
    """The hex sha256 of the document's canonical JSON without its `sha256` key."""
    body = {key: value for key, value in document.items() if key != "sha256"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def seal(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `document` with `format` set and `sha256` computed over the rest."""
    body = {key: value for key, value in document.items() if key != "sha256"}
    body["format"] = FORMAT
    body["sha256"] = payload_sha256(body)
    return body


def encode_array(values: np.ndarray | Sequence[float]) -> dict[str, Any]:
    """A float32 array as `{"dtype", "shape", "b64"}` (little-endian)."""
    array = np.ascontiguousarray(np.asarray(values, dtype="<f4"))
    return {"dtype": "float32", "shape": list(array.shape), "b64": base64.b64encode(array.tobytes()).decode()}


def decode_array(spec: Any, where: str) -> np.ndarray:
    """The float32 array an `encode_array` spec holds; ArtifactError when it is malformed."""
    if not isinstance(spec, Mapping) or spec.get("dtype") != "float32":
        raise ArtifactError(f"{where}: expected a float32 array spec")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ArtifactError(f"{where}: bad shape {shape!r}")
    try:
        raw = base64.b64decode(str(spec.get("b64", "")), validate=True)
    except ValueError as exc:
        raise ArtifactError(f"{where}: bad base64") from exc
    expected = int(np.prod(shape, dtype=np.int64)) * 4
    if len(raw) != expected:
        raise ArtifactError(f"{where}: {len(raw)} bytes for shape {shape}")
    array = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ArtifactError(f"{where}: non-finite values")
    return array


def read_document(path: str | Path) -> dict[str, Any]:
    """The artifact document at `path`, its seal checked; ArtifactError when missing, corrupt or tampered."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError as exc:
        raise ArtifactError(f"router artifact {file} does not exist") from exc
    except OSError as exc:
        raise ArtifactError(f"router artifact {file} is unreadable: {exc}") from exc
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"router artifact {file} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ArtifactError(f"router artifact {file} is not a JSON object")
    if document.get("format") != FORMAT:
        raise ArtifactError(f"router artifact {file}: format {document.get('format')!r}, expected {FORMAT!r}")
    stated = document.get("sha256")
    try:
        actual = payload_sha256(document)
    except ValueError as exc:
        raise ArtifactError(f"router artifact {file} holds non-finite numbers") from exc
    if not isinstance(stated, str) or stated != actual:
        raise ArtifactError(f"router artifact {file}: sha256 mismatch (stated {stated!r}, content {actual})")
    return document


def write_document(document: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """Seal `document` and write it to `path` (pretty enough to diff: one key per line at the top level)."""
    sealed = seal(document)
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(sealed, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=False)
    tmp = file.with_suffix(file.suffix + ".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(file)
    return sealed
