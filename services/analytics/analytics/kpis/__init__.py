"""KPIs over the read models: query validation, repository (SQL), aggregation, endpoints, CSV."""
