"""feedback domain of the router."""
