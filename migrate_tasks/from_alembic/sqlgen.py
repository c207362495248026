"""``import-alembic``, part two: what SQLAlchemy sent to SQLite -> migration files.

Pure text work on the statements ``alembic_import`` recorded: which belong to which
revision (Alembic writes its version table after each one, naming it), which belong in a
migration at all (not reflection, not the version table), bound parameters written as
literals, and the files' text. The one impurity: ``same_table`` asks an in-memory SQLite
whether two ``CREATE TABLE`` statements define the same table.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from migrate_tasks.errors import MigrateError
from migrate_tasks.files.source import display_path
from migrate_tasks.sql.lexer import tokens, unquote
from migrate_tasks.sql.literals import inline_params
from migrate_tasks.sql.normalise import canonical_tokens
from migrate_tasks.sql.shapes import leading_words, pragma, schema_change

#: The date Alembic's revision template writes into each revision's docstring.
CREATE_DATE = re.compile(r"Create Date:\s*(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)")
#: PRAGMAs SQLAlchemy and Alembic send to reflect a table (batch mode); never in a migration.
READ_PRAGMAS = frozenset(
    {
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo",
        "foreign_key_list", "database_list", "collation_list", "compile_options",
        "read_uncommitted",
    }
)  # fmt: skip
SYSTEM_TABLES = frozenset({"sqlite_master", "sqlite_temp_master", "sqlite_schema"})
TRANSACTION_WORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
WRITE_WORDS = frozenset(
    {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"}
)


@dataclass(frozen=True)
class Revision:
    """One Alembic revision, in upgrade order."""

    id: str
    message: str
    down: tuple[str, ...]
    path: str
    created: datetime | None
    #: Why the docstring's Create Date was not used, when it has one that is not a date.
    date_problem: str | None = None


@dataclass(frozen=True)
class ImportedFile:
    """A migration file to write: its name in the migrations folder and its text."""

    filename: str
    text: str
    revisions: tuple[str, ...]


@dataclass(frozen=True)
class Captured:
    """One statement SQLAlchemy sent to the scratch database."""

    sql: str
    params: Any
    many: bool
    #: At Alembic's version-table writes: the tables' CREATE statements at that moment.
    tables: dict[str, str] | None = None
    #: The project's own SQL text (``op.execute``), not SQL that SQLAlchemy compiled.
    user: bool = False


def identifiers(sql: str) -> set[str]:
    return {t.text for t in canonical_tokens(sql, fold_case=True) if t.kind == "ident"}


def split_steps(
    captured: Sequence[Captured], version_table: str, revisions: Sequence[Revision]
) -> tuple[list[list[Captured]], list[dict[str, str]]]:
    """The statements of each revision: those before the version-table write that ends it
    (Alembic writes the version after each revision; that write names the revision).
    Also the tables as they were at the end of each revision."""
    steps: list[list[Captured]] = []
    tables: list[dict[str, str]] = []
    current: list[Captured] = []
    for item in captured:
        if not is_version_write(item, version_table) and version_table in identifiers(item.sql):
            continue  # creating or reading the version table
        if not is_version_write(item, version_table):
            current.append(item)
            continue
        expected = revisions[len(steps)].id if len(steps) < len(revisions) else None
        written = " ".join(inline_params(item.sql, p) for p in _param_sets(item))
        if expected is None or expected not in written:
            raise MigrateError(
                "could not tell which SQL belongs to which revision: Alembic's version"
                f" table write {short(written)!r} does not name revision {expected}"
            )
        steps.append(current)
        tables.append(item.tables or {})
        current = []
    if len(steps) != len(revisions):
        raise MigrateError(
            f"could not tell which SQL belongs to which revision: Alembic wrote its version"
            f" table {len(steps)} times for {len(revisions)} revisions"
        )
    return steps, tables


def is_version_write(item: Captured, version_table: str) -> bool:
    words = leading_words(item.sql, 1)
    return (
        bool(words)
        and words[0] in ("INSERT", "UPDATE", "DELETE")
        and (version_table in identifiers(item.sql))
    )


def reads_rows(item: Captured) -> bool:
    """A revision's read of rows (not of the schema): what it does with them happens in
    Python, so the SQL recorded on the empty scratch database does not show it."""
    words = leading_words(item.sql, 1)
    if words != ["SELECT"] or "FROM" not in item.sql.upper():
        return False
    return not identifiers(item.sql) & SYSTEM_TABLES


def statements(
    step: Sequence[Captured],
    revision: Revision,
    warnings: list[str],
    before: Mapping[str, str] | None = None,
) -> list[str]:
    """The statements of one revision that belong in a migration, parameters inlined.
    ``before``: for a down section, the tables as they were before the revision's up."""
    out: list[str] = []
    for item in step:
        words = leading_words(item.sql, 1)
        first = words[0] if words else ""
        if first == "PRAGMA":
            found = pragma(item.sql)
            if found is None or found.name not in READ_PRAGMAS:
                warnings.append(
                    f"revision {revision.id}: left out {short(item.sql)} (the tool manages"
                    " foreign_keys itself: a section that drops a table runs with"
                    " foreign_keys:off)"
                )
            continue  # reflection: PRAGMA table_info("users") and friends
        if first in TRANSACTION_WORDS:
            warnings.append(f"revision {revision.id}: left out {short(item.sql)}")
            continue
        if first not in WRITE_WORDS:
            if reads_rows(item):
                warnings.append(
                    f"revision {revision.id} reads rows in Python ({short(item.sql)}): on the"
                    " empty scratch database that read found nothing, so whatever the revision"
                    " does with existing rows is not in the SQL. Check that migration by hand"
                )
            continue
        for params in _param_sets(item):
            sql = inline_params(item.sql, params)
            if before is not None:
                sql = _restored_table(sql, before)
            out.append(verbatim(sql) if item.user else tidy(sql))
    return out


_CREATE_TABLE = re.compile(
    r"""^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"""
    r"""("(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[A-Za-z_][\w$]*)""",
    re.IGNORECASE,
)


TMP_PREFIX = "_alembic_tmp_"


def _restored_table(sql: str, before: Mapping[str, str]) -> str:
    """A batch rebuild in a down section recreates the table from reflection, which can
    spell it differently (constraint order, ``DEFAULT (x)``), so ``verify`` would see a
    down that does not undo its up. When the table it builds is the same as the one the
    revision's up started from (columns, types, defaults, keys, unique constraints), use
    that table's own text instead."""
    match = _CREATE_TABLE.match(sql)
    if not match:
        return sql
    name = unquote(match.group(1))
    if not name.lower().startswith(TMP_PREFIX):
        return sql
    original = before.get(name[len(TMP_PREFIX) :].lower())
    if original is None or not _CREATE_TABLE.match(original):
        return sql
    restored = _CREATE_TABLE.sub(
        lambda m: m.group(0)[: m.start(1) - m.start(0)] + name, original, 1
    )
    return restored if _same_table(sql, restored) else sql


def _same_table(first: str, second: str) -> bool:
    """Do two CREATE TABLE statements (for the same name) define the same table, as far as
    SQLite's catalog can tell (columns in order, types, NOT NULL, defaults, primary key,
    foreign keys, unique constraints)?"""

    def shape(sql: str) -> tuple[Any, ...] | None:
        db = sqlite3.connect(":memory:")
        try:
            db.execute(sql)
            table = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            columns = db.execute(
                'SELECT name, upper(type), "notnull", dflt_value, pk, hidden'
                " FROM pragma_table_xinfo(?)",
                (table,),
            ).fetchall()
            keys = db.execute(
                'SELECT "table", "from", "to", on_update, on_delete, "match", seq'
                " FROM pragma_foreign_key_list(?) ORDER BY 1, 2, 3",
                (table,),
            ).fetchall()
            uniques = sorted(
                (
                    origin,
                    tuple(
                        c for (c,) in db.execute("SELECT name FROM pragma_index_info(?)", (idx,))
                    ),
                )
                for idx, origin in db.execute(
                    "SELECT name, origin FROM pragma_index_list(?) WHERE origin <> 'c'", (table,)
                )
            )
            return (columns, keys, uniques)
        except sqlite3.Error:
            return None
        finally:
            db.close()

    one = shape(first)
    return one is not None and one == shape(second)


def _param_sets(item: Captured) -> list[Any]:
    if item.many:
        return list(item.params or [])
    return [item.params]


#: What ``tidy`` never touches: string literals, quoted identifiers and comments.
_PROTECTED = frozenset({"string", "quoted", "comment"})
#: The words before an object's name that SQLite rewrites when it stores a CREATE.
_CREATE_PREFIX = re.compile(
    r"^\s*CREATE\s+(?:(?:TEMP|TEMPORARY|UNIQUE|VIRTUAL)\s+)*(?:TABLE|INDEX|VIEW|TRIGGER)"
    r"\s+(?:IF\s+NOT\s+EXISTS\s+)?",
    re.IGNORECASE,
)


def verbatim(sql: str) -> str:
    """A statement the project wrote itself (``op.execute``), as written: only the space
    around it and its final semicolon go (the file adds its own)."""
    return sql.strip().rstrip(";").strip()


def tidy(sql: str) -> str:
    """SQLAlchemy's layout (tab indents, trailing spaces) made file-friendly. Only the
    space between tokens changes: literals, quoted names and comments keep every byte."""
    parts, run = [], []  # run: the text since the last protected token
    for token in tokens(verbatim(sql), keep=True):
        if token.kind in _PROTECTED:
            parts += [_layout("".join(run)), token.text]
            run = []
        else:
            run.append(token.text)
    return "".join([*parts, _layout("".join(run))])


def _layout(text: str) -> str:
    return re.sub(r"[ \t]+(?=\n)", "", text).replace("\t", "  ")


def created_key(sql: str) -> str | None:
    """A CREATE statement from the object's name on: how SQLite stores it, whatever the
    spelling of its first words (so a stored object can be matched to the statement)."""
    match = _CREATE_PREFIX.match(sql)
    return verbatim(sql[match.end() :]) if match else None


def user_created(captured: Sequence[Captured]) -> set[str]:
    """The ``created_key`` of every CREATE the project wrote itself."""
    keys = (created_key(item.sql) for item in captured if item.user)
    return {key for key in keys if key}


def short(sql: str) -> str:
    one = " ".join(sql.split())
    return one if len(one) <= 80 else one[:77] + "..."


def _needs_foreign_keys_off(statements: Sequence[str]) -> bool:
    """A DROP TABLE (a batch rebuild, or a plain drop) runs with foreign keys off, as it did
    under Alembic on SQLite; the tool still checks every reference before COMMIT."""
    for sql in statements:
        change = schema_change(sql)
        if change is not None and change.kind == "drop_table":
            return True
    return False


#: Where versions start when no revision has a usable Create Date (any fixed date will
#: do: the same history must give the same files, so never the clock).
UNDATED_START = datetime(2000, 1, 1, tzinfo=timezone.utc)


def create_date(doc: str) -> tuple[datetime | None, str | None]:
    """The ``Create Date`` of a revision's docstring (read as UTC), or None and, when the
    docstring has one that is not a date (Alembic never reads it), why."""
    match = CREATE_DATE.search(doc)
    if not match:
        return None, None
    try:
        return datetime(*(int(g) for g in match.groups()), tzinfo=timezone.utc), None
    except ValueError as exc:
        value = match.group(0).split(":", 1)[1].strip()
        return None, f"Create Date {value} is not a date ({exc})"


def versions_for(revisions: Sequence[Revision]) -> list[str]:
    """One version per revision, increasing, from the revisions alone (so two imports give
    the same files): its Create Date where it has one, else a second after the previous
    revision's (revisions before the first dated one count back from it; with no date at
    all, versions start at ``UNDATED_START``)."""
    first = next((i for i, r in enumerate(revisions) if r.created is not None), None)
    start = UNDATED_START
    if first is not None:
        start = revisions[first].created - timedelta(seconds=first)  # type: ignore[operator]
    versions: list[str] = []
    previous: datetime | None = None
    for revision in revisions:
        when = revision.created or (previous + timedelta(seconds=1) if previous else start)
        if previous is not None and when <= previous:
            when = previous + timedelta(seconds=1)
        versions.append(when.strftime("%Y%m%d%H%M%S"))
        previous = when
    return versions


def date_notes(revisions: Sequence[Revision], versions: Sequence[str]) -> list[str]:
    """Warnings for the revisions whose version is not their Create Date."""
    notes = [
        f"{display_path(Path(r.path))}: {r.date_problem}; Alembic ignores it, and so does the import:"
        f" its migration is versioned {v}, one second from its neighbour in the history"
        for r, v in zip(revisions, versions, strict=True)
        if r.date_problem
    ]
    undated = [Path(r.path).name for r in revisions if r.created is None and not r.date_problem]
    if len(undated) == len(revisions):
        notes.append(
            "no revision has a Create Date in its docstring, so the versions are made up:"
            f" {versions[0]} onwards, one second apart (rename the files to choose others)"
        )
    elif undated:
        listed = ", ".join(undated[:5]) + (", ..." if len(undated) > 5 else "")
        notes.append(
            f"{len(undated)} revision(s) have no Create Date in their docstring ({listed}):"
            " each is versioned one second from its neighbour in the history"
        )
    return notes


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
