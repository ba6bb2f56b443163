"""Usage: the meter that records one `usage.recorded` event per request, and the writer that stores them."""
