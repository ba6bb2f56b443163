"""Billing meters, meter events and their summaries."""
