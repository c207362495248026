"""A small multi-tenant blog: the example application of docs/alembic.md."""
