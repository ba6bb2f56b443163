"""HTTP API: tenant endpoints (/v1/billing, tenant API key) and platform-admin endpoints (/admin/billing)."""
