"""A stand-in for Stripe's HTTP API, speaking its wire protocol so the official SDK runs unchanged."""
