"""Checks observability/ offline: promtool (config, rules, unit tests), amtool, a unit test and a runbook per
alert, the dashboards (Grafana schemas, uids, panel ids, layout, PromQL), metric names that exist, and that
the generated files are current. Prints `ERROR [rule] message` per finding, then `N finding(s)`.

    python observability/check.py                 check observability/ (installs promtool/amtool if missing)
    python observability/check.py --target DIR    check another tree shaped like observability/ (bad fixtures)

Exit 0 clean, 1 findings, 2 usage error or tools that cannot be installed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import tools  # noqa: E402
from obs_lib.check_dashboards import check_dashboards  # noqa: E402
from obs_lib.check_rules import check_alertmanager, check_prometheus, check_runbooks, check_tested, rule_docs  # noqa: E402
from obs_lib.findings import Finding  # noqa: E402
from obs_lib.metric_names import exported_metrics, metrics_in  # noqa: E402

# The Grafana schemas are read in place (../shared/k8s-schemas/MANIFEST.md), never copied: `$AIAAS_K8S_SCHEMAS`, else
# beside the checkout, else the workplace's /work/shared (a CI clone elsewhere).
_BESIDE = ROOT.parent / "shared" / "k8s-schemas"
_SHARED = Path(
    os.environ.get("AIAAS_K8S_SCHEMAS")
    or next((str(p) for p in (_BESIDE, Path("/work/shared/k8s-schemas")) if p.is_dir()), str(_BESIDE))
)
SCHEMAS = _SHARED / "grafana"
SOURCES = [ROOT / "libs", ROOT / "services", ROOT / "control-plane"]


def _known_metrics(root: Path) -> set[str]:
    recorded = {
        str(rule["record"])
        for doc in rule_docs(root).values()
        for group in doc.get("groups") or []
        for rule in group.get("rules") or []
        if isinstance(rule, dict) and "record" in rule
    }
    return exported_metrics(SOURCES) | recorded


def _rule_metrics(root: Path, known: set[str]) -> list[Finding]:
    findings = []
    for path, doc in rule_docs(root).items():
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                name = rule.get("alert") or rule.get("record")
                for metric in sorted(metrics_in(str(rule.get("expr", ""))) - known):
                    message = f"{path.name}: {name} reads {metric}, which no process exports or rule records"
                    findings.append(Finding("unknown-metric", message))
    return sorted(set(findings), key=lambda f: f.message)


def _generated() -> list[Finding]:
    import generate  # noqa: PLC0415 - only for the repo's own tree

    return [
        Finding("generated", f"{path.relative_to(ROOT)} differs from what generate.py writes from slo.yaml")
        for path, text in generate.rendered().items()
        if not path.is_file() or path.read_text() != text
    ]


def check(root: Path, *, own_tree: bool) -> list[Finding]:
    promtool, amtool = tools.bin_path("promtool"), tools.bin_path("amtool")
    known = _known_metrics(root)
    findings = check_prometheus(root, promtool)
    findings += check_alertmanager(root, amtool)
    findings += check_tested(root)
    findings += check_runbooks(root)
    findings += _rule_metrics(root, known)
    findings += check_dashboards(root, SCHEMAS, promtool, known)
    if own_tree:
        findings += _generated()
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--target", type=Path, help="a tree shaped like observability/ (default: this one)")
    args = parser.parse_args(argv)
    root = (args.target or HERE).resolve()
    if not root.is_dir():
        print(f"--target {root}: not a directory", file=sys.stderr)
        return 2
    if not SCHEMAS.is_dir():
        print(f"Grafana schemas not found at {SCHEMAS} (see ../shared/k8s-schemas/MANIFEST.md)", file=sys.stderr)
        return 2
    if not tools.install():
        print("promtool/amtool missing and could not be installed (python observability/tools.py)", file=sys.stderr)
        return 2
    findings = check(root, own_tree=root == HERE)
    for finding in findings:
        print(f"ERROR [{finding.rule}] {finding.message}")
    print(f"{len(findings)} finding(s) in {root}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
