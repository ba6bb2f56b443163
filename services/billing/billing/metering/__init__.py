"""Metering: usage events into the ledger, counters, charges and debits; quota state for the gateway."""
