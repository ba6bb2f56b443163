"""Canary: compare a canary router version with the stable one, roll it back or promote it."""
