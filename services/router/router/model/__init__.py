"""The router's model: artifact format, load, calibrated predict, novelty, domain centroids.

`load_artifact(path) -> RouterModel` (raises `ArtifactError` when missing, corrupt or its sha256 mismatches);
`RouterModel.predict(features, embedding) -> dict[tier, p]`; `.novelty(embedding)`; `.domain_flags(embedding)`;
`constant_model(p)` / `write_constant_artifact(path, p)` for fixed-p versions. The committed default artifact
is `DEFAULT_ARTIFACT` (`artifacts/router-v1.json`, written by `router-train`).
"""

from pathlib import Path

from router.model.artifact import ArtifactError, canonical_json, payload_sha256, read_document, seal, write_document
from router.model.builders import constant_document, constant_model, write_constant_artifact
from router.model.predictor import DEFAULT_TIERS, RouterModel, load_artifact, model_from_document

DEFAULT_ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "router-v1.json"

__all__ = [
    "DEFAULT_ARTIFACT",
    "DEFAULT_TIERS",
    "ArtifactError",
    "RouterModel",
    "canonical_json",
    "constant_document",
    "constant_model",
    "load_artifact",
    "model_from_document",
    "payload_sha256",
    "read_document",
    "seal",
    "write_constant_artifact",
    "write_document",
]
