"""Feature flags: schemas, SQL, the change service, KV publication, admin endpoints."""
