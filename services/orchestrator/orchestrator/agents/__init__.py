"""Agents: their manifests (`manifest`), the current manifest of a name (`registry`), the flags a run snapshots."""
