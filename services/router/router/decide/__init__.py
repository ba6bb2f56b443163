"""decide domain of the router."""
