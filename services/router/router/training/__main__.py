"""`python -m router.training train|eval [options]`: the router-train and router-eval console scripts."""

from __future__ import annotations

import sys

from router.training.cli import eval_main, train_main


def main(argv: list[str]) -> int:
    """Dispatch to router-train or router-eval."""
    commands = {"train": train_main, "eval": eval_main}
    if not argv or argv[0] not in commands:
        print("usage: python -m router.training {train,eval} [options]", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
