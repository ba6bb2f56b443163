"""Prepaid credit: the ledger balance, paid top-ups (Stripe Checkout) and audited admin grants."""
