"""Quota alerts: soft-limit crossings and their signed webhook deliveries."""
