"""OpenAI's wire protocol: `/v1/chat/completions` and `/v1/embeddings`."""
