"""Root conftest: every suite shares the real-infrastructure fixtures of the aiaas_testing plugin, and the
`exact_replay` registry (evals.replay.pytest_plugin): runs a test registers replay EXACT, at the latest when the
session ends."""

pytest_plugins = ["aiaas_testing.plugin", "evals.replay.pytest_plugin"]
