"""`python -m billing.meter`: the meter process (metering/consumers.py), with its metrics listener."""

from __future__ import annotations

from aiaas.observability.metrics import serve_metrics
from aiaas.worker import run_worker
from billing.config import BillingAdminSettings
from billing.metering.consumers import run

__all__ = ["main"]


def main() -> None:
    settings = BillingAdminSettings(service_name="billing-meter")
    serve_metrics(settings.meter_metrics_port, settings.metrics_host)
    run_worker(settings, lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
