"""The response cache: exact (Redis) and semantic (pgvector) tiers, per-tenant settings, invalidation."""
