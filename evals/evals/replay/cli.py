"""`python -m evals replay --mode exact --episodes <file|dir|ids> [--tenant T] [--report FILE]`.

`--episodes`: a JSONL file, a directory of them, or comma-separated ids: episode ids of the corpus
(`--corpus`, default evals/episodes) or run ids (exported from the database first, as `--tenant` under RLS, else as
platform_admin). Only `exact` is supported by this build: `parametric` and `stress` are refused with exit 2.
Exit 0 no divergence, 1 a divergence (the first one of each episode is printed), 2 bad input or an episode the
graphs could not run on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError

from aiaas.db import create_engine, session_factory
from evals.episodes.export import EpisodeNotFound, export_episodes
from evals.replay.exact import replay_exact

__all__ = ["SUPPORTED_MODES", "load_episodes", "main"]

SUPPORTED_MODES = ("exact", "stress")
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "episodes"


class _BadInput(Exception):
    pass


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    episodes = []
    for n, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            episode = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise _BadInput(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(episode, dict) or "episode_id" not in episode or "steps" not in episode:
            raise _BadInput(f"{path}:{n}: not an episode (no episode_id/steps)")
        episodes.append(episode)
    return episodes


def _corpus(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        raise _BadInput(f"no episode directory {directory}")
    return [episode for path in sorted(directory.glob("*.jsonl")) for episode in _read_jsonl(path)]


async def _from_database(run_ids: list[uuid.UUID], tenant: uuid.UUID | None) -> list[dict[str, Any]]:
    env = "DATABASE_URL" if tenant is not None else "ADMIN_DATABASE_URL"
    url = os.environ.get(env)
    if not url:
        raise _BadInput(f"run ids need the database: {env} is not set")
    engine = create_engine(url, pool_size=1, application_name="evals-replay")
    try:
        return await export_episodes(session_factory(engine), tenant_id=tenant, run_ids=run_ids)
    finally:
        await engine.dispose()


async def load_episodes(spec: str, *, corpus: Path, tenant: uuid.UUID | None) -> list[dict[str, Any]]:
    """The episodes `--episodes` names (see the module doc)."""
    local, run_ids = _resolve(spec, corpus)
    return await _from_database(run_ids, tenant) if run_ids else local


def _resolve(spec: str, corpus: Path) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
    """Episodes read from files, or the run ids to export from the database."""
    path = Path(spec)
    if path.is_dir():
        return _corpus(path), []
    if path.is_file():
        return _read_jsonl(path), []
    ids = [part.strip() for part in spec.split(",") if part.strip()]
    if not ids:
        raise _BadInput("--episodes names nothing")
    run_ids: list[uuid.UUID] = []
    episode_ids: list[str] = []
    for value in ids:
        try:
            run_ids.append(uuid.UUID(value))
        except ValueError:
            episode_ids.append(value)
    if run_ids and episode_ids:
        raise _BadInput("--episodes mixes run ids and episode ids")
    if run_ids:
        return [], run_ids
    known = {episode["episode_id"]: episode for episode in _corpus(corpus)}
    missing = [value for value in episode_ids if value not in known]
    if missing:
        raise _BadInput(f"not a file, a directory or an episode of {corpus}: {', '.join(missing[:5])}")
    return [known[value] for value in episode_ids], []


async def _replay(args: argparse.Namespace) -> int:
    episodes = await load_episodes(args.episodes, corpus=args.corpus, tenant=args.tenant)
    if not episodes:
        raise _BadInput(f"no episodes in {args.episodes}")
    results = [await replay_exact(episode) for episode in episodes]
    diverged = [result for result in results if result.divergence is not None]
    failed = [result for result in results if result.error is not None]
    for result in diverged:
        print(f"episode {result.episode_id} ({result.agent}): {result.divergence}")
    for result in failed:
        print(f"episode {result.episode_id} ({result.agent}): error: {result.error}", file=sys.stderr)
    summary = {
        "mode": "exact",
        "episodes": len(results),
        "divergences": len(diverged),
        # what the gate's exact_replay criterion lists (evals.gate.criteria)
        "diverged": [f"{r.episode_id} ({r.agent}): {r.divergence}" for r in diverged],
        "errors": len(failed),
        "steps": sum(result.steps for result in results),
        "sockets_opened": sum(result.sockets for result in results),
        "results": [result.as_dict() for result in results],
    }
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    print(
        f"EXACT replay: {len(results)} episodes, {summary['steps']} steps, {len(diverged)} divergences, "
        f"{summary['sockets_opened']} sockets opened"
    )
    if failed:
        return 2
    return 1 if diverged else 0


def _stress_argv(argv: list[str]) -> list[str] | None:
    """The arguments for STRESS (`--mode stress` removed), or None when the mode asked for is another."""
    for i, arg in enumerate(argv):
        if arg == "--mode" and i + 1 < len(argv) and argv[i + 1] == "stress":
            return argv[:i] + argv[i + 2 :]
        if arg == "--mode=stress":
            return argv[:i] + argv[i + 1 :]
    return None


def main(argv: list[str]) -> int:
    stress = _stress_argv(argv)
    if stress is not None:
        # STRESS replays episodes through the real stack under a fault plan: its own engine and options
        # (--faults, --seed, -n, -c, --episodes), the same exit codes.
        from evals.stress.cli import main as stress_main

        return stress_main(stress)
    parser = argparse.ArgumentParser(prog="python -m evals replay", description="Replay recorded episodes.")
    parser.add_argument("--mode", required=True, help=f"supported by this build: {', '.join(SUPPORTED_MODES)}")
    parser.add_argument("--episodes", required=True, help="a JSONL file, a directory, or comma-separated ids")
    parser.add_argument("--tenant", type=uuid.UUID, help="run ids are read as this tenant (RLS)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="where episode ids are looked up")
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if args.mode not in SUPPORTED_MODES:
        print(
            f"error: replay mode {args.mode!r} is not supported by this build; supported modes: "
            f"{', '.join(SUPPORTED_MODES)}",
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(_replay(args))
    except (_BadInput, EpisodeNotFound, OSError, SQLAlchemyError) as exc:
        print(f"error: {str(exc)[:500]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
