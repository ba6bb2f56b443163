"""The observability files agree with the code they describe: SLO thresholds are histogram buckets, the local
scrape config covers every metrics listener `make dev` opens, and the tenant dashboard's SQL runs on the real
analytics schema."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
import yaml

from aiaas.observability.http_metrics import HTTP_LATENCY_BUCKETS

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "observability"
if str(OBS) not in sys.path:
    sys.path.insert(0, str(OBS))

from obs_lib.slo import load_slo  # noqa: E402

# The worker listeners `make dev` keeps on their config defaults (deploy/local/dev.py says so), and the jsz exporter.
_WORKER_PORTS = {"9101", "9102", "9103", "9106", "9120", "9121", "9130", "9131", "9140"}


def test_every_latency_threshold_is_a_bucket() -> None:
    slo = load_slo(OBS / "slo.yaml")
    assert slo.services
    for service in slo.services:
        assert service.latency_threshold_s in HTTP_LATENCY_BUCKETS, service


def test_the_local_scrape_config_covers_every_dev_metrics_listener() -> None:
    dev = (ROOT / "deploy" / "local" / "dev.py").read_text()
    http_ports = set(re.findall(r'"[A-Z_]+_METRICS_PORT": "(\d+)"', dev))
    assert len(http_ports) >= 9
    config = yaml.safe_load((OBS / "prometheus" / "prometheus.yml").read_text())
    scraped = {
        target.rpartition(":")[2]
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert http_ports | _WORKER_PORTS <= scraped, sorted((http_ports | _WORKER_PORTS) - scraped)
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert len(jobs) == len(set(jobs))


def _runnable(sql: str, tenant: uuid.UUID) -> str:
    """Grafana's macros as the PostgreSQL datasource expands them, for one day and one tenant."""
    sql = re.sub(r"\$__timeGroupAlias\((\w+), '5m'\)", r"date_bin('5 minutes', \1, timestamptz 'epoch') as time", sql)
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 between now() - interval '1 day' and now()", sql)
    return sql.replace("$tenant", str(tenant))


async def test_the_tenant_dashboard_queries_run_on_the_analytics_schema() -> None:
    url = os.environ.get("ADMIN_DATABASE_URL")
    if not url:
        pytest.fail('ADMIN_DATABASE_URL is not set (eval "$(.venv/bin/python deploy/local/infra.py env)")')
    dashboard = json.loads((OBS / "grafana" / "dashboards" / "tenant-usage.json").read_text())
    queries = [t["rawSql"] for p in dashboard["panels"] for t in p["targets"]]
    variable = dashboard["templating"]["list"][0]["query"]
    assert len(queries) == 5
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tenants = await conn.fetch(variable)
        assert tenants and set(tenants[0].keys()) == {"__text", "__value"}
        for sql in queries:
            rows = await conn.fetch(_runnable(sql, uuid.UUID(tenants[0]["__value"])))
            assert isinstance(rows, list)
    finally:
        await conn.close()
