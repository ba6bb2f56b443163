"""Checks of files rather than renders: yamllint, hadolint plus a non-root USER in each final stage (which hadolint
does not check), and `docker compose config -q`. promtool/amtool wait for observability/ (issue 17 §3)."""

from __future__ import annotations

import re
from pathlib import Path

from .core import ROOT, Finding, run, tool

FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.I)
USER = re.compile(r"^\s*USER\s+(\S+)", re.I)
ROOT_USERS = {"root", "0", "0:0", "root:root"}


def yaml_lint(paths: list[Path]) -> list[Finding]:
    existing = [p for p in paths if p.exists()]
    if not existing:
        return []
    # Relative paths: .yamllint's `ignore` patterns match them.
    relative = [p.relative_to(ROOT) if p.is_relative_to(ROOT) else p for p in existing]
    done = run([tool("k8s", "yamllint"), "-c", ROOT / ".yamllint", "-f", "parsable", "--strict", *relative])
    return [Finding("yamllint", line.split(": ", 1)[0], line.split(": ", 1)[-1]) for line in done.stdout.splitlines()]


def dockerfiles(root: Path = ROOT) -> list[Path]:
    """Every Dockerfile of the repo but the planted-error ones under tests/deploy/bad."""
    skip = {".venv", ".local", "node_modules", ".git"}
    bad = root / "tests" / "deploy" / "bad"
    found = (p for p in root.rglob("Dockerfile*") if p.is_file() and not p.is_relative_to(bad))
    return sorted(p for p in found if not skip & set(p.relative_to(root).parts))


def final_user(text: str) -> str | None:
    """The USER in effect at the end of the last stage (None when no stage it builds on sets one).

    A stage `FROM <earlier stage>` starts as that stage's user; any other base is taken to start as root."""
    user: str | None = None
    name = ""
    stages: dict[str, str | None] = {}
    for line in text.splitlines():
        stage = FROM.match(line)
        if stage:
            if name:
                stages[name] = user
            user = stages.get(stage.group(1).lower())
            name = (stage.group(2) or "").lower()
            continue
        match = USER.match(line)
        if match:
            user = match.group(1)
    return user


def hadolint(paths: list[Path]) -> list[Finding]:
    out = []
    for path in paths:
        done = run([tool("k8s", "hadolint"), "--config", ROOT / ".hadolint.yaml", "--no-color", path])
        out += [Finding("hadolint", str(path), line) for line in done.stdout.splitlines() if line.strip()]
        if done.returncode != 0 and not done.stdout.strip():
            out.append(Finding("hadolint", str(path), done.stderr.strip() or "hadolint failed"))
        user = final_user(path.read_text())
        if user is None or user.split(":")[0] in {u.split(":")[0] for u in ROOT_USERS}:
            out.append(Finding("dockerfile-user", str(path), f"final stage runs as root (USER {user or 'not set'})"))
    return out


def compose_config(path: Path) -> list[Finding]:
    done = run([tool("compose", "docker-compose"), "-f", path, "config", "-q"], cwd=path.parent)
    if done.returncode == 0:
        return []
    return [Finding("compose", str(path), (done.stderr or done.stdout).strip().splitlines()[-1])]


def observability(root: Path = ROOT) -> list[str]:
    """Notes (not findings) on §2.5: promtool/amtool/dashboard checks live in observability/check.py."""
    if (root / "observability" / "check.py").exists():
        return ["promtool/amtool/dashboard checks: python observability/check.py (not run from here)"]
    return ["no observability/ yet: promtool check/test rules, amtool check-config and dashboard checks deferred"]
