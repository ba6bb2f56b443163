"""The orchestrator: durable LangGraph workflows (FAQ, Order, Lead) per tenant (issue 15, §1).

Processes: `python -m orchestrator [serve]` the API (`/v1/orchestrator`), `python -m orchestrator work` the
JetStream worker (consumer `orchestrator-runs`), `python -m orchestrator prune` the checkpoint retention job.
"""
