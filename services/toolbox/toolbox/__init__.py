"""The toolbox: an HTTP sandbox of tenants' business systems that the orchestrator's tools call."""
