"""Alembic history -> migration files, run on a scratch SQLite database."""
