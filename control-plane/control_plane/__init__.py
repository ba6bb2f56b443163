"""Control plane: feature flags and the model, agent and tool registries."""
