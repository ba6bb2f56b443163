"""Reindex: re-embed a tenant's chunks stored by another model than the current embedder's (a model change)."""
