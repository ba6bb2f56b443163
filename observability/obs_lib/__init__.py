"""What observability/generate.py and observability/check.py share: the SLO file, rules, dashboards, checks."""
