"""The control plane refuses model documents no gateway can serve: both sides name the same providers."""

from __future__ import annotations

from typing import get_args

import orjson

from control_plane.registry.schemas import ModelConfig
from control_plane.registry.schemas import Provider as RegistryProvider
from gateway.catalog.registry import parse_document
from gateway.catalog.schemas import Provider as GatewayProvider


def test_the_registry_accepts_exactly_the_providers_the_gateway_speaks() -> None:
    assert set(get_args(RegistryProvider)) == set(get_args(GatewayProvider))


def test_every_provider_the_registry_accepts_is_served_by_the_gateway() -> None:
    for provider in get_args(RegistryProvider):
        config = ModelConfig.model_validate(
            {
                "name": "m",
                "deployments": [
                    {
                        "name": "d",
                        "provider": provider,
                        "model": "x",
                        "base_url": "http://10.0.0.9:8000/v1",
                        "input_usd_per_1k": "0.1",
                        "output_usd_per_1k": "0.2",
                    }
                ],
            }
        )
        document = {"alias": "m", "version": 1, "config": config.model_dump(mode="json")}
        alias = parse_document(orjson.dumps(document))
        assert alias.deployments[0].provider == provider
