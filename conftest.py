"""Root conftest: every suite shares the real-infrastructure fixtures of the aiaas_testing plugin."""

pytest_plugins = ["aiaas_testing.plugin"]
