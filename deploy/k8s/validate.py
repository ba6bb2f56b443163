"""`make k8s-validate`: every offline check of deploy/ (issue 17 §2), one line per finding, exit 1 on any.

    python deploy/k8s/validate.py                     the repo: yamllint, every overlay, Dockerfiles, compose file
    python deploy/k8s/validate.py --target DIR [...]  directories instead (tests/deploy/bad's fixtures): an overlay
                                                      (kustomization.yaml), a Dockerfile, a docker-compose.yml, YAML;
                                                      each one's findings under a `== DIR` line
Exit 0 clean, 1 findings, 2 bad usage or a pinned tool missing (`python deploy/k8s/tools.py` installs them).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from k8s_checks import connectivity, files, pods, references, schemas  # noqa: E402
from k8s_checks.core import ROOT, Doc, Finding, Render, ToolMissing, render  # noqa: E402

# Documents of the built-in kinds, gathered from every render for one kubernetes-validate run: (where, doc).
Builtins = list[tuple[str, Doc]]


def overlay_kind(overlay: Path) -> str | None:
    """dev or prod for the overlays and for a fixture built on one of them (its flows apply); else None."""
    if overlay.name in ("dev", "prod"):
        return overlay.name
    resources = (yaml.safe_load((overlay / "kustomization.yaml").read_text()) or {}).get("resources") or []
    kinds = {Path(r).name for r in resources if Path(r).parent.name == "overlays"}
    return kinds.pop() if len(kinds) == 1 else None


def check_overlay(overlay: Path) -> tuple[list[Finding], Builtins]:
    rendered = render(overlay)
    if isinstance(rendered, Finding):
        return [rendered], []
    return check_render(rendered, overlay_kind(overlay))


def check_render(rendered: Render, kind: str | None) -> tuple[list[Finding], Builtins]:
    found, builtin = schemas.check(rendered)
    found += references.check(rendered) + pods.check(rendered, prod=kind == "prod")
    if kind is not None:
        found += connectivity.check(rendered, kind)
    return found, [(rendered.label, doc) for doc in builtin]


def check_target(target: Path) -> tuple[list[Finding], Builtins]:
    found: list[Finding] = []
    builtin: Builtins = []
    if (target / "kustomization.yaml").exists():
        found, builtin = check_overlay(target)
    # A fixture's is Dockerfile.planted: tests/test_images.py owns the repo's files named exactly Dockerfile.
    dockerfiles = sorted(target.glob("Dockerfile*"))
    if dockerfiles:
        found += files.hadolint(dockerfiles)
    if (target / "docker-compose.yml").exists():
        found += files.compose_config(target / "docker-compose.yml")
    return found, builtin


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def check_targets(targets: list[Path]) -> dict[str, list[Finding]]:
    """Each target's findings; yamllint and kubernetes-validate run once for all of them."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(targets, pool.map(check_target, targets), strict=True))
    by_target = {_label(t): found for t, (found, _) in results.items()}
    for finding in files.yaml_lint(targets):
        owner = next((label for label in by_target if finding.where.startswith(label + "/")), None)
        by_target[owner or "?"] = [*by_target.get(owner or "?", []), finding]
    for finding in schemas.kubernetes_validate([item for _, builtin in results.values() for item in builtin]):
        owner = next((label for label in by_target if finding.where.startswith(label + " ")), "?")
        by_target.setdefault(owner, []).append(finding)
    return by_target


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
    ]
    with ThreadPoolExecutor(max_workers=len(jobs) + len(overlays)) as pool:
        rendered = [pool.submit(check_overlay, overlay) for overlay in overlays]
        results = list(pool.map(lambda job: job(), jobs))
        found = [f for result in results for f in result]
        builtin: Builtins = []
        for future in rendered:
            overlay_found, overlay_builtin = future.result()
            found += overlay_found
            builtin += overlay_builtin
    found += schemas.kubernetes_validate(builtin)
    return found, files.observability()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target", type=Path, nargs="+", action="extend", help="check these directories instead of the repo"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    total = 0
    try:
        if args.target:
            for target in args.target:
                if not target.is_dir():
                    parser.error(f"--target {target}: not a directory")
            for label, found in check_targets([t.resolve() for t in args.target]).items():
                print(f"== {label}")
                print(*(f"ERROR {f}" for f in found), sep="\n") if found else None
                total += len(found)
        else:
            found, notes = check_repo()
            print(*(f"note: {n}" for n in notes), sep="\n")
            print(*(f"ERROR {f}" for f in found), sep="\n") if found else None
            total = len(found)
    except ToolMissing as exc:
        print(f"k8s-validate: {exc}", file=sys.stderr)
        return 2
    print(f"k8s-validate: {total} finding(s) in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
