"""Events the stand-in raised, as `/v1/events`."""
