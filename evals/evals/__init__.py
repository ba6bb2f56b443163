"""Golden tasks for the built-in agents: schema, loader, rubrics and the assertion engine (issue 16)."""
