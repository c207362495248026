"""``import-alembic --per-revision``: a revision that transforms rows in Python (it reads
rows, then decides what to write) is kept as a Python migration instead of SQL.

On the empty scratch database the revision's read found nothing, so the SQL Alembic
sent says nothing of what it does to existing rows. Kept as Python, the migration is the
revision's own source, byte for byte, followed by ``up(db)``/``down(db)`` that run its
``upgrade()``/``downgrade()`` through ``runtime.alembic_ops`` inside the migration's
transaction. A revision that reflects a table (a batch rebuild reads its definition
first) cannot run that way and stays SQL, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from migrate_tasks.errors import MigrateError
from migrate_tasks.from_alembic.migration_files import ImportedFile, slug
from migrate_tasks.from_alembic.sqlgen import (
    READ_PRAGMAS,
    SYSTEM_TABLES,
    Captured,
    Revision,
    identifiers,
    reads_rows,
)
from migrate_tasks.progname import command

if TYPE_CHECKING:
    from migrate_tasks.from_alembic.importer import ImportOutcome
from migrate_tasks.sql.shapes import leading_words, pragma

RUNNER = """

# -- added by import-alembic: run upgrade() and downgrade() above as this migration ------


def up(db):
    from migrate_tasks.from_alembic.runtime import alembic_ops

    with alembic_ops(db):
        upgrade()


def down(db):
    from migrate_tasks.from_alembic.runtime import alembic_ops

    with alembic_ops(db):
        downgrade()
"""


def keep_as_python(steps: Sequence[Sequence[Captured]], version_table: str) -> bool:
    """Whether a revision (its upgrade's and downgrade's statements) reads rows in
    Python and can run as Python: a revision that also reads a table's definition (a
    batch rebuild) cannot, and stays SQL with ``sqlgen.statements``' warning."""
    items = [item for step in steps for item in step]
    if not any(reads_rows(item) for item in items):
        return False
    return not any(_reflects(item, version_table) for item in items)


def _reflects(item: Captured, version_table: str) -> bool:
    """A read of the schema that is not about Alembic's version table."""
    words = leading_words(item.sql, 1)
    names = identifiers(item.sql)
    if version_table.lower() in {n.lower() for n in names}:
        return False
    if words == ["PRAGMA"]:
        found = pragma(item.sql)
        return found is not None and found.name in READ_PRAGMAS
    return words == ["SELECT"] and bool(names & SYSTEM_TABLES)


def python_file(revision: Revision, version: str, config: str) -> ImportedFile:
    """The migration file: a header, the revision's source as written, and the runner."""
    source = Path(revision.path).read_text(encoding="utf-8")
    revises = ", ".join(revision.down) or "none (the first revision)"
    header = (
        f"# Alembic revision {revision.id}: {revision.message or '(no message)'}\n"
        f"# Revises: {revises}. From {Path(revision.path).name}.\n"
        f"# Imported by `{command(f'import-alembic --config {config} --per-revision')}`\n"
        "# as a Python migration, because the revision transforms rows in Python: its own\n"
        "# upgrade() and downgrade() run as up(db) and down(db) (at the end), inside the\n"
        "# migration's transaction. Needs alembic and sqlalchemy where it runs.\n"
        "# This file is the source of truth now.\n\n"
    )
    text = header + source.rstrip("\n") + "\n" + RUNNER
    return ImportedFile(f"{version}_{slug(revision.message, revision.id)}.py", text, (revision.id,))


def note(revision: Revision, file: ImportedFile) -> str:
    return (
        f"revision {revision.id} reads rows in Python: kept as the Python migration"
        f" {file.filename}, which runs its upgrade() and downgrade() (they need alembic and"
        " sqlalchemy installed where migrations run)"
    )


def checked_keeping_python(
    outcome: ImportOutcome,
    fallbacks: Mapping[str, tuple[ImportedFile, list[str]]],
    check: Callable[[], list[str]],
) -> list[str]:
    """``check()`` (the import's self-check on a scratch libSQL database); a revision kept
    as Python whose code does not run there (an ORM session on the bind, a module it
    cannot import) goes back to its SQL, with the warnings the SQL comes with, and the
    check runs again."""
    while True:
        try:
            return check()
        except MigrateError as exc:
            name = getattr(exc, "failed_file", None)
            if name not in fallbacks:
                raise
            index = next(i for i, f in enumerate(outcome.files) if f.filename == name)
            sql, notes = fallbacks[name]
            outcome.files[index] = sql
            reason = str(exc).split(": ", 1)[-1].splitlines()[0]
            kept = f"kept as the Python migration {name}"
            outcome.warnings[:] = [w for w in outcome.warnings if kept not in w]
            outcome.warnings.append(
                f"{name} (a revision that transforms rows) does not run as a Python migration"
                f" on a scratch database ({reason}), so it was written as SQL: {sql.filename}"
            )
            outcome.warnings += notes
