"""Root conftest: every suite shares the real-infrastructure fixtures in aiaas.testing."""

pytest_plugins = ["aiaas.testing"]
