"""Artifact bytes -> a loaded `RouterModel`, through the one loader (`router.model.load_artifact`).

`sha256` of a version is the artifact's own seal (`RouterModel.sha256`: the digest of its canonical JSON), so
the same model re-indented is the same version. A version's artifact lives in Postgres
(`router_versions.artifact`), so every router process serves the same bytes whatever host it runs on. The
loader reads a path, so the bytes are written once per process to a cache directory under their sha256 (write
to a temporary name, then rename: a concurrent reader never sees half a file) and loaded from there.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from router.model import DEFAULT_ARTIFACT, ArtifactError, RouterModel, load_artifact

__all__ = [
    "ArtifactError",
    "DEFAULT_ARTIFACT",
    "default_cache_dir",
    "default_version_name",
    "sha256_hex",
    "load_bytes",
    "load_path",
]


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"aiaas-router-artifacts-{os.getuid()}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cached_file(data: bytes, cache_dir: Path) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{sha256_hex(data)}.json"
    if path.is_file() and path.stat().st_size == len(data):
        return path
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_bytes(data: bytes, cache_dir: Path | None = None) -> RouterModel:
    """The model in `data` (ArtifactError when it is not a loadable artifact). Blocking: run it in a thread."""
    return load_artifact(_cached_file(data, cache_dir or default_cache_dir()))


def load_path(path: Path) -> tuple[bytes, RouterModel]:
    """The bytes at `path` and the model they hold (ArtifactError when missing or not loadable)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    return data, load_artifact(path)


def default_version_name(path: Path) -> str:
    """The version the artifact at `path` serves under: its `version`, or the file's name when it does not load."""
    try:
        return load_path(path)[1].version
    except ArtifactError:
        return path.stem
