"""policy domain of the router."""
