"""Ingestion: each tenant's knowledge base (upload, parse, chunk, embed, store under RLS) and its search."""
