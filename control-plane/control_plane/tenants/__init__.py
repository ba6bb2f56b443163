"""Platform-admin API: tenants and their API keys."""
