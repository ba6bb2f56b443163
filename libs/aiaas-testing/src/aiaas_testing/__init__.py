"""Test support for every suite, installed into the dev venv only (never into a service image).

The pytest plugin (fixtures on the shared infrastructure) is `aiaas_testing.plugin`, loaded by the root
conftest.py; the helpers a test imports are re-exported here. The realtime ws client is
`aiaas_testing.realtime` (it needs `websockets`); event factories are in `aiaas_testing.events`.
"""

from aiaas_testing.admin_keys import AdminKey
from aiaas_testing.infra import InfraUrls
from aiaas_testing.metrics import metric_value, scrape_metrics
from aiaas_testing.polling import wait_for
from aiaas_testing.processes import ServiceProcess
from aiaas_testing.servers import NatsServer, RedisServer, free_port
from aiaas_testing.serving import serve_asgi, serve_local
from aiaas_testing.tenants import TenantWithKey

__all__ = [
    "AdminKey",
    "InfraUrls",
    "NatsServer",
    "RedisServer",
    "ServiceProcess",
    "TenantWithKey",
    "free_port",
    "metric_value",
    "scrape_metrics",
    "serve_asgi",
    "serve_local",
    "wait_for",
]
