"""The plan catalogue: plans, per-tier prices, model tiers; money arithmetic (pricing.py)."""
