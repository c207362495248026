"""Presentation only: tables, JSON, dry-run SQL, log lines. Nothing below tasks imports it."""
