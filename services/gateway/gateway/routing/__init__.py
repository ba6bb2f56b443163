"""`model: "auto"`: the router service picks the tier, the gateway serves its alias (fallback table when it can't)."""
