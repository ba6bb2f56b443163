"""Versioned registries: model aliases, agents, tools."""
