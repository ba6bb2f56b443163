"""`python -m billing.meter`: the meter process's entry point (kept for deploys); see metering/consumers.py."""

from __future__ import annotations

from billing.metering.consumers import main

if __name__ == "__main__":
    main()
