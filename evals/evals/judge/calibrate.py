"""`python -m evals.judge.calibrate`: judge the labelled pairs through the gateway, write calibration.json.

    python -m evals.judge.calibrate --gateway-url http://127.0.0.1:8080 --api-key sk-... [--model sim-judge-v1]
        [--labels evals/judge/labels.jsonl] [--out evals/judge/calibration.json] [--seed 0] [--epochs 3]

--gateway-url and --api-key default to EVALS_GATEWAY_URL and EVALS_API_KEY. Exit 0 when the calibration was
computed (advisory or not: the file says which), 2 on bad input or when the judge cannot be called.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from evals.judge.calibration import CALIBRATION_FILE, LABELS_FILE, LabelsError, calibrate, write_calibration
from evals.judge.errors import JudgeError
from evals.judge.judge import Judge, JudgeSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals.judge.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--gateway-url", default=os.environ.get("EVALS_GATEWAY_URL"))
    parser.add_argument("--api-key", default=os.environ.get("EVALS_API_KEY"))
    parser.add_argument("--model", default="sim-judge-v1")
    parser.add_argument("--labels", type=Path, default=LABELS_FILE)
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    return parser


async def _run(args: argparse.Namespace) -> dict[str, object]:
    judge = Judge(
        JudgeSettings(
            gateway_url=args.gateway_url, api_key=args.api_key, model=args.model, epochs=args.epochs, seed=args.seed
        )
    )
    try:
        return await calibrate(judge, args.labels)
    finally:
        await judge.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.gateway_url or not args.api_key:
        parser.error("--gateway-url and --api-key (or EVALS_GATEWAY_URL and EVALS_API_KEY) are required")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    try:
        record = asyncio.run(_run(args))
    except (LabelsError, JudgeError) as exc:
        print(f"calibration failed: {exc}", file=sys.stderr)
        return 2
    write_calibration(record, args.out)
    summary = {key: record[key] for key in ("agreement", "kappa", "advisory", "n")}
    print(json.dumps(summary))
    if record["advisory"]:
        print("the judge part of the gate is ADVISORY (agreement or kappa below the bar)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
