"""Invoices: previews of the open period, closing periods, finalized invoices."""
