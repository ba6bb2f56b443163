"""Project-local Postgres (+pgvector), NATS JetStream and Redis for `make dev` and `make test`."""
