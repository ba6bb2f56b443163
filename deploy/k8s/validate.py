"""`make k8s-validate`: every offline check of deploy/ (issue 17 §2), one line per finding, exit 1 on any.

    python deploy/k8s/validate.py                 the repo: yamllint, every overlay, Dockerfiles, compose file
    python deploy/k8s/validate.py --target DIR    one directory (the bad fixtures of tests/deploy/bad): an overlay
                                                  (kustomization.yaml), a Dockerfile, a docker-compose.yml, or YAML
Exit 0 clean, 1 findings, 2 bad usage or a pinned tool missing (`python deploy/k8s/tools.py` installs them).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from k8s_checks import files, pods, references, schemas  # noqa: E402
from k8s_checks.core import ROOT, Finding, Render, ToolMissing, render  # noqa: E402


def check_overlay(overlay: Path) -> list[Finding]:
    rendered = render(overlay)
    if isinstance(rendered, Finding):
        return [rendered]
    return check_render(rendered, prod=overlay.name == "prod")


def check_render(rendered: Render, prod: bool) -> list[Finding]:
    return schemas.check(rendered) + references.check(rendered) + pods.check(rendered, prod)


def check_target(target: Path) -> list[Finding]:
    found = files.yaml_lint([target])
    if (target / "kustomization.yaml").exists():
        found += check_overlay(target)
    if (target / "Dockerfile").exists():
        found += files.hadolint([target / "Dockerfile"])
    if (target / "docker-compose.yml").exists():
        found += files.compose_config(target / "docker-compose.yml")
    return found


def _generated() -> list[Finding]:
    import generate

    if generate.main(["--check"]) != 0:
        return [Finding("generated", "deploy/k8s", "generated manifests are stale: run deploy/k8s/generate.py")]
    return []


def check_repo() -> tuple[list[Finding], list[str]]:
    """The checks run side by side: most of the time is spent waiting on the tools' processes."""
    overlays = sorted(
        p for p in (ROOT / "deploy" / "k8s" / "overlays").iterdir() if (p / "kustomization.yaml").exists()
    )
    jobs: list[Callable[[], list[Finding]]] = [
        lambda: files.yaml_lint([ROOT / "deploy", ROOT / "observability"]),
        _generated,
        lambda: files.hadolint(files.dockerfiles()),
        lambda: files.compose_config(ROOT / "docker-compose.yml"),
        *[functools.partial(check_overlay, overlay) for overlay in overlays],
    ]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: job(), jobs))
    return [f for result in results for f in result], files.observability()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=Path, help="check one directory instead of the repo")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if args.target is not None:
            if not args.target.is_dir():
                parser.error(f"--target {args.target}: not a directory")
            found, notes = check_target(args.target.resolve()), []
        else:
            found, notes = check_repo()
    except ToolMissing as exc:
        print(f"k8s-validate: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}")
    for finding in found:
        print(f"ERROR {finding}")
    elapsed = time.monotonic() - started
    print(f"k8s-validate: {len(found)} finding(s) in {elapsed:.1f}s", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
