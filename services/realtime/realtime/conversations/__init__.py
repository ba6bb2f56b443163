"""Conversation logic: the v1 protocol, messages and replies, the Redis live log and the Postgres event log."""
