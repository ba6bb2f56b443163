"""Routing features shared by the router service and the gateway (rules only; no model, no embedder)."""

from aiaas.routing.features import DOMAINS, RequestFeatures, extract_features

__all__ = ["DOMAINS", "RequestFeatures", "extract_features"]
