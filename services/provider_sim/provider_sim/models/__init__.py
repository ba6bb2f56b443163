"""`GET /v1/models`, in either provider's shape."""
