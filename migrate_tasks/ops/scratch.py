"""The schema that a folder of migrations produces, worked out on a scratch database.

``generate`` diffs the models against it and ``baseline`` compares a live database with
it; neither may touch the real database to find out. The scratch database is a private
in-memory libSQL database (the same engine as a local file, so libSQL syntax works),
gone when the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from migrate_tasks.config import defaults
from migrate_tasks.drivers import open_driver
from migrate_tasks.engine.core import Engine, RunOptions
from migrate_tasks.ops.schema import SchemaObject, read_schema

__all__ = ["migrated_scratch", "scratch_schema"]


@contextlib.contextmanager
def migrated_scratch(
    directory: Path, table: str = defaults.TABLE, *, upto: str | None = None
) -> Iterator[Engine]:
    """An engine on a fresh in-memory database with the folder's migrations applied, up to
    and including version ``upto`` (all of them when None). Malformed files raise as they
    would for ``up`` (exit 2); a migration that fails raises MigrationFailed. A folder that
    does not exist yet is an empty history (the first ``generate`` creates it)."""
    driver = open_driver(":memory:", None)
    try:
        engine = Engine(driver, directory, table)
        if directory.is_dir() and engine.files():
            engine.migrate("up", to=upto, options=RunOptions(lock_timeout=0))
        yield engine
    finally:
        driver.close()


def scratch_schema(
    directory: Path,
    table: str = defaults.TABLE,
    *,
    upto: str | None = None,
) -> list[SchemaObject]:
    """The normalised schema (see ops/schema.py) those migrations build; tracking tables left out."""
    with migrated_scratch(directory, table, upto=upto) as engine:
        return read_schema(engine.driver, table)
