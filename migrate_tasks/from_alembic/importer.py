"""``import-alembic``: turn an Alembic history into SQL migrations, once, when leaving Alembic.

The Alembic history is the source of truth, so we run it: the project's own ``env.py``
against a private SQLite file (``sqlalchemy.url`` overridden; a hook refuses any other
database, so a production URL hard-coded in env.py is never touched), and we record every
statement SQLAlchemy sends. Two outputs:

- default ("reset history"): one migration whose up section is the head schema as
  Alembic built it (``sqlite_master``, tables in foreign-key order, rows the history
  inserted, then indexes, triggers, views) and whose down section drops it again;
- ``per_revision``: one migration per revision, up and down being the SQL Alembic ran for
  that revision on SQLite.

Why run online rather than render with Alembic's offline (``--sql``) mode: offline mode
cannot do batch operations on SQLite (the table rebuild needs to reflect the table first,
and fails with "batch mode ... requires a live database connection"), and it prints
PostgreSQL-only SQL without noticing that SQLite refuses it. Run online, every statement
has been executed by SQLite once, batch rebuilds included. One upgrade from base to head
and one downgrade back are enough: the statements are attributed to revisions by the
version-table write Alembic makes after each one.

The work is split: ``history.py`` reads the project through Alembic, ``recording.py``
runs it and records what it sent, ``sqlgen.py`` turns that into each revision's SQL and
``migration_files.py`` into files, ``head.py`` reads the head schema back; this module
puts them together. Before anything is written, the produced migrations are applied on a
scratch libSQL database and the schema compared, object by object, with Alembic's
(``selfcheck.py``). Alembic is imported only through ``history.py`` (the ``[alembic]``
extra).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from migrate_tasks.config import defaults
from migrate_tasks.drivers import open_driver
from migrate_tasks.errors import UsageError
from migrate_tasks.files.source import display_path, match_name, scan, version_of
from migrate_tasks.from_alembic import head as headdb
from migrate_tasks.from_alembic import sqlgen
from migrate_tasks.from_alembic.history import load_config, load_history
from migrate_tasks.from_alembic.migration_files import ImportedFile, initial_file, revision_file
from migrate_tasks.from_alembic.python_revisions import (
    checked_keeping_python,
    keep_as_python,
    python_file,
)
from migrate_tasks.from_alembic.python_revisions import note as python_note
from migrate_tasks.from_alembic.recording import AlembicScratch, run_recorded
from migrate_tasks.from_alembic.selfcheck import self_check
from migrate_tasks.from_alembic.versions import date_notes, versions_for
from migrate_tasks.ops.schema import SchemaObject, read_schema

__all__ = [
    "ImportOutcome",
    "import_alembic",
    "load_history",
    "write_files",
]


@dataclass
class ImportOutcome:
    """What ``import_alembic`` produced; nothing is written until ``write_files``."""

    config: str
    per_revision: bool
    revisions: list[sqlgen.Revision]
    files: list[ImportedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def head(self) -> sqlgen.Revision:
        return self.revisions[-1]


def import_alembic(
    config_path: Path,
    *,
    per_revision: bool = False,
    name: str = "initial_schema",
    table: str = defaults.TABLE,
) -> ImportOutcome:
    """Run the Alembic history on scratch databases and return the migration files to write."""
    cfg = load_config(config_path)
    revisions = load_history(cfg, linear=per_revision)
    outcome = ImportOutcome(str(config_path), per_revision, revisions)
    versions = versions_for(revisions)
    outcome.warnings += date_notes(revisions, versions)
    fallbacks: dict[str, tuple[ImportedFile, list[str]]] = {}  # .py -> its SQL
    with tempfile.TemporaryDirectory(prefix="migrate-alembic-") as folder:
        scratch = AlembicScratch(cfg, Path(folder) / "alembic.db")
        upgrade = run_recorded(scratch, "up", "heads", revisions)
        if scratch.redirected:
            outcome.warnings.append(
                f"env.py asked for a {' and a '.join(scratch.redirected)} database, not the"
                " scratch SQLite file sqlalchemy.url named; it was given the scratch file"
                " instead (the database its own URL names was not contacted)"
            )
        written = None if per_revision else sqlgen.user_created(upgrade)
        head = _read_head(scratch, table, outcome.warnings, written)
        if per_revision:
            downgrade = run_recorded(scratch, "down", "base", revisions)
            fallbacks = _revision_files(outcome, upgrade, downgrade, head.version_table, versions)
        else:
            outcome.files.append(
                initial_file(
                    revisions, versions[-1], name, head.up, head.down, head.cyclic, outcome.config
                )
            )
    outcome.warnings += checked_keeping_python(
        outcome, fallbacks, lambda: self_check(outcome.files, head.expected, table)
    )
    return outcome


@dataclass(frozen=True)
class _Head:
    """The scratch database once the history ran up to its head."""

    #: Alembic's version table, lower-case.
    version_table: str
    #: The schema the imported migrations must build (without the version table).
    expected: list[SchemaObject]
    #: The "reset history" migration's sections (empty with --per-revision).
    up: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    cyclic: bool = False


def _read_head(
    scratch: AlembicScratch, table: str, warnings: list[str], written: set[str] | None
) -> _Head:
    """The head schema read back from the scratch file, and with ``written`` (the
    ``created_key`` of the project's own CREATEs; None with --per-revision) the reset
    history's sections. A history that creates our tracking tables is refused."""
    ours = {table.lower(), f"{table}_log".lower(), f"{table}_lock".lower()}
    driver = open_driver(f"file:{scratch.path}", None)
    try:
        version_table = (headdb.version_table(driver) or "alembic_version").lower()
        clash = sorted(ours & headdb.user_tables(driver))
        if clash:
            raise UsageError(
                f"the Alembic history creates {', '.join(clash)}, the name of this tool's"
                " tracking tables; choose another prefix with the 'table' setting"
                " (migrate.table in invoke.yaml)"
            )
        expected = [
            o
            for o in read_schema(driver, table)
            if version_table not in (o.name.lower(), o.table.lower())
        ]
        warnings += headdb.unusable_defaults(driver)
        if written is None:
            return _Head(version_table, expected)
        up, down, cyclic = headdb.head_sections(driver, {version_table}, written)
        return _Head(version_table, expected, up, down, cyclic)
    finally:
        driver.close()


def _revision_files(
    outcome: ImportOutcome,
    upgrade: Sequence[sqlgen.Captured],
    downgrade: Sequence[sqlgen.Captured],
    version_table: str,
    versions: Sequence[str],
) -> dict[str, tuple[ImportedFile, list[str]]]:
    """One migration per revision, added to ``outcome``. A revision kept as Python maps
    to the SQL file it would have been, with its notes (used if it does not run)."""
    revisions = outcome.revisions
    fallbacks: dict[str, tuple[ImportedFile, list[str]]] = {}
    ups, after_up = sqlgen.split_steps(upgrade, version_table, revisions)
    downs = list(reversed(sqlgen.split_steps(downgrade, version_table, revisions[::-1])[0]))
    befores: list[dict[str, str]] = [{}, *after_up[:-1]]
    for revision, version, up_step, down_step, before in zip(
        revisions, versions, ups, downs, befores, strict=True
    ):
        notes: list[str] = []
        up_sql = sqlgen.statements(up_step, revision, notes)
        down_sql = sqlgen.statements(down_step, revision, notes, before)
        sql = revision_file(revision, version, up_sql, down_sql, outcome.config)
        if keep_as_python((up_step, down_step), version_table):
            # it transforms rows in Python: its own code runs, as Python
            outcome.files.append(python_file(revision, version, outcome.config))
            outcome.warnings.append(python_note(revision, outcome.files[-1]))
            fallbacks[outcome.files[-1].filename] = (sql, notes)
        else:
            outcome.files.append(sql)
            outcome.warnings += notes
    return fallbacks


def write_files(
    directory: Path, files: Sequence[ImportedFile], *, force: bool = False
) -> list[Path]:
    """Write the files; never overwrite one, and into a folder that already has migrations
    only with ``force`` (an imported history next to another one is rarely what you want)."""
    existing: list[str] = []
    if directory.is_dir():
        found, problems = scan(directory)
        existing = [f.path.name for f in found] + [p.path for p in problems]
    if existing and not force:
        listed = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
        raise UsageError(
            f"{display_path(directory)} already has migrations ({listed}). Import into an"
            " empty folder (--dir), or pass --force to add the imported ones next to them"
        )
    taken = {match_name(n).group(1) for n in existing if match_name(n)}
    for file in files:
        version = version_of(file.filename)
        if version in taken or (directory / file.filename).exists():
            raise UsageError(
                f"{display_path(directory / file.filename)}: version {version} is taken in"
                f" {display_path(directory)}; nothing was written"
            )
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file in files:
        path = directory / file.filename
        with path.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(file.text)
        written.append(path)
    return written
