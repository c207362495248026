"""Helpers shared by the tests (real sqld processes, throw-away projects)."""
