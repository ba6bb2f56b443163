"""Analytics: CQRS read models built from usage and billing events, and the tenant KPI API."""
