"""Alembic environment of the example blog (the usual template, two changes).

- ``target_metadata`` is the application's metadata, for ``alembic revision --autogenerate``.
- ``render_as_batch=True``: SQLite cannot ALTER most things in place, so autogenerate writes
  ``with op.batch_alter_table(...)`` blocks, which rebuild the table on SQLite and are plain
  ``ALTER TABLE`` statements on PostgreSQL. The team ran its tests on SQLite.

The URL comes from ``sqlalchemy.url`` in the configuration, so tools that override it
(``alembic -x``-less scripts, ``invoke migrate.import-alembic``) reach the database they mean.
"""

from logging.config import fileConfig

from alembic import context
from blog.models import Base
from sqlalchemy import engine_from_config, pool

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
