"""Billing: plans, usage metering, prepaid credits, quota state for the gateway, invoices, quota alerts."""
