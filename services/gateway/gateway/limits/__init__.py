"""Rate limits and plan quotas: one Redis round trip per batch of admissions and settlements (service), the pure
decision and settlement values (rules), the Lua script both run (rate_limit.lua)."""
