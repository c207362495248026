"""``import-alembic``'s proof: the produced migrations build exactly Alembic's schema.

Before anything is written, the migrations are applied on a scratch libSQL database and
the schema compared, object by object, with the one Alembic built on SQLite; a
difference, or a migration libSQL refuses, stops the import. What ``verify`` would say
about the down sections comes back as warnings.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from migrate_tasks.drivers import open_driver
from migrate_tasks.engine.core import Engine, RunOptions
from migrate_tasks.errors import CheckFailed, MigrateError, MigrationFailed, MigrationFileError
from migrate_tasks.files.source import version_of
from migrate_tasks.from_alembic.migration_files import ImportedFile
from migrate_tasks.ops.baseline import compare_schemas, describe_differences, engine_logs_quiet
from migrate_tasks.ops.schema import SchemaObject
from migrate_tasks.ops.scratch import scratch_schema
from migrate_tasks.progname import command

BATCH_NOTE = (
    ". Alembic's batch mode rebuilds a table from reflection, so a down section can give"
    " back the same table spelt differently (DEFAULT (x) for DEFAULT x, say);"
    " edit that down section if you run verify in CI"
)


def self_check(
    files: Sequence[ImportedFile], expected: Sequence[SchemaObject], table: str
) -> list[str]:
    """Apply the produced migrations on a scratch libSQL database: they must build exactly
    Alembic's schema. Returns what ``verify`` says about their down sections."""
    from migrate_tasks.ops.verify import verify

    with tempfile.TemporaryDirectory(prefix="migrate-import-") as folder:
        directory = Path(folder)
        for file in files:
            (directory / file.filename).write_text(file.text, encoding="utf-8")
        try:
            with engine_logs_quiet():
                built = scratch_schema(directory, table)
        except (MigrationFailed, MigrationFileError) as exc:
            error = MigrateError(
                f"the imported migrations do not apply on libSQL, so nothing was written: {exc}"
            )
            error.failed_file = Path(exc.path).name  # type: ignore[attr-defined]
            raise error from None
        differences = compare_schemas(expected, built, "Alembic on SQLite", "imported")
        if differences:
            raise CheckFailed(
                "the imported migrations build a different schema than Alembic does, so"
                f" nothing was written:\n{describe_differences(differences)}"
            )
        driver = open_driver(":memory:", None)
        try:
            engine = Engine(driver, directory, table)
            with engine_logs_quiet():
                result = verify(engine, RunOptions(lock_timeout=0), temporary=True)
        finally:
            driver.close()
    rebuilt = {version_of(f.filename) for f in files if "_alembic_tmp_" in f.text}
    return [
        f"`{command('verify')}` will report: {p.message.splitlines()[0]}"
        + (BATCH_NOTE if p.version in rebuilt else "")
        + (f"\n{p.diff}" if p.diff else "")
        for p in result.problems
    ]
