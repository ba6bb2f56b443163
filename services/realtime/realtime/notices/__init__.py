"""Tenant notices: core NATS broadcasts delivered to a tenant's open sockets."""
