"""Invoice items and invoices."""
