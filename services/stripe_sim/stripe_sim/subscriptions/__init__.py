"""Subscriptions and their items."""
