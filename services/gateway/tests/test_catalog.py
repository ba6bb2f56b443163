"""GATEWAY_MODELS_FILE prices are US dollars per 1,000 tokens (`*_usd_per_1k`); old key names still load."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from gateway.catalog.service import load_catalog
from gateway.config import GatewaySettings

_FILE = """
aliases:
  - name: new-names
    deployments:
      - {name: a, provider: openai, model: m, base_url: "http://127.0.0.1:1/v1",
         input_usd_per_1k: "0.00015", output_usd_per_1k: 0.0006}
  - name: old-names
    deployments:
      - {name: b, provider: openai, model: m, base_url: "http://127.0.0.1:1/v1",
         input_price_per_1k: "0.00015", output_price_per_1k: 0.0006}
"""


def test_models_file_prices_are_dollars_under_either_name(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(_FILE)
    catalog = load_catalog(GatewaySettings(models_file=path))
    for name in ("new-names", "old-names"):
        alias = catalog.resolve(name)
        assert alias is not None
        (dep,) = alias.deployments
        # The YAML float 0.0006 goes through its text: no binary rounding reaches money.
        assert (dep.input_usd_per_1k, dep.output_usd_per_1k) == (Decimal("0.00015"), Decimal("0.0006"))
        assert dep.cost_usd(2000, 1000) == Decimal("0.0009")


def test_default_catalogue_prices_are_dollars() -> None:
    catalog = load_catalog(GatewaySettings(models_file=None, openai_api_key="", anthropic_api_key=""))
    mini = catalog.resolve("gpt-4o-mini")
    assert mini is not None
    # gpt-4o-mini lists at $0.15 per million input tokens: $0.00015 per 1,000.
    assert mini.deployments[0].input_usd_per_1k == Decimal("0.00015")


def test_default_catalogue_offers_the_simulators_rule_models_only_without_keys() -> None:
    simulated = load_catalog(GatewaySettings(models_file=None, openai_api_key="", anthropic_api_key=""))
    for model in ("sim-policy-v1", "sim-policy-v1-degraded", "sim-judge-v1"):
        alias = simulated.resolve(model)
        assert alias is not None, model
        (dep,) = alias.deployments
        assert (dep.provider, dep.model, dep.input_usd_per_1k) == ("openai", model, Decimal("0.00015"))
        assert dep.base_url.endswith("/v1")
    real = load_catalog(GatewaySettings(models_file=None, openai_api_key="sk-test", anthropic_api_key=""))
    assert real.resolve("sim-judge-v1") is None
