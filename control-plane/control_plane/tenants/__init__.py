"""Tenant administration: tenants and their API keys (platform admin only)."""
