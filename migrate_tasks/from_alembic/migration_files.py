"""``import-alembic``: the migration files' text, names and sections.

One file per revision (``--per-revision``, the SQL Alembic ran for it) or one "reset
history" file for the head schema; each with a header saying where it came from, and
``foreign_keys:off`` on a section that drops a table (as it ran under Alembic on SQLite;
the tool still checks every reference before COMMIT).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.from_alembic.sqlgen import Revision
from migrate_tasks.sql.shapes import schema_change


@dataclass(frozen=True)
class ImportedFile:
    """A migration file to write: its name in the migrations folder and its text."""

    filename: str
    text: str
    revisions: tuple[str, ...]


def _needs_foreign_keys_off(statements: Sequence[str]) -> bool:
    """A DROP TABLE (a batch rebuild, or a plain drop) runs with foreign keys off, as it did
    under Alembic on SQLite; the tool still checks every reference before COMMIT."""
    for sql in statements:
        change = schema_change(sql)
        if change is not None and change.kind == "drop_table":
            return True
    return False


def slug(message: str, revision: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:60].rstrip("_")
    return slug or "alembic_" + re.sub(r"[^a-z0-9]+", "_", revision.lower()).strip("_")


def _section(header: str, statements: Sequence[str], empty_note: str) -> str:
    options = " foreign_keys:off" if _needs_foreign_keys_off(statements) else ""
    body = "".join(f"{sql};\n\n" for sql in statements)
    if not statements:
        body = f"-- {empty_note}\nSELECT 1;\n\n"
    return f"-- migrate:{header}{options}\n{body}"


def revision_file(
    revision: Revision, version: str, up: Sequence[str], down: Sequence[str], config: str
) -> ImportedFile:
    revises = ", ".join(revision.down) or "none (the first revision)"
    header = (
        f"-- Alembic revision {revision.id}: {revision.message or '(no message)'}\n"
        f"-- Revises: {revises}. From {Path(revision.path).name}.\n"
        f"-- Imported by `invoke migrate.import-alembic --config {config} --per-revision`:\n"
        "-- the SQL Alembic ran for this revision on SQLite. This file is the source of truth now.\n\n"
    )
    text = (
        header
        + _section("up", up, "Alembic ran no SQL for this revision on SQLite")
        + _section("down", down, "Alembic ran no SQL to downgrade this revision on SQLite")
    )
    filename = f"{version}_{slug(revision.message, revision.id)}.sql"
    return ImportedFile(filename, text.rstrip("\n") + "\n", (revision.id,))


def initial_file(
    revisions: Sequence[Revision],
    version: str,
    name: str,
    up: Sequence[str],
    down: Sequence[str],
    cyclic: bool,
    config: str,
) -> ImportedFile:
    head = revisions[-1]
    header = (
        f"-- The schema of Alembic revision {head.id} ({head.message or 'no message'}), the head\n"
        f"-- of {len(revisions)} revision(s), as Alembic builds it on SQLite. Imported by\n"
        f"-- `invoke migrate.import-alembic --config {config}` (the history starts again here).\n"
        f"-- Databases Alembic already migrated: `invoke migrate.baseline {version}`.\n\n"
    )
    down_header = "down foreign_keys:off" if cyclic else "down"
    body = _section("up", up, "the Alembic history creates no tables")
    downs = "".join(f"{sql};\n\n" for sql in down) or "SELECT 1;\n\n"
    text = header + body + f"-- migrate:{down_header}\n" + downs
    return ImportedFile(f"{version}_{name}.sql", text.rstrip("\n") + "\n", (head.id,))
