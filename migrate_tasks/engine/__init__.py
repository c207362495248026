"""Runs migrations: the pure plan, tracking tables, the lock, libSQL's checks and refusals, the runner."""
