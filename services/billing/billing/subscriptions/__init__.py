"""Subscriptions: one per tenant, its plan and open billing period."""
