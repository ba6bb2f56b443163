"""bandit domain of the router."""
