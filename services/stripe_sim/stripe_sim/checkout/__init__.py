"""Checkout Sessions (mode=payment), and the customer's side of them for tests."""
