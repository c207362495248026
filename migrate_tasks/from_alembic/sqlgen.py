"""``import-alembic``, part two: what SQLAlchemy sent to SQLite -> each revision's SQL.

Pure text work on the statements ``recording.py`` recorded: which belong to which
revision (Alembic writes its version table after each one, naming it), which belong in a
migration at all (not reflection, not the version table), bound parameters written as
literals, and SQLAlchemy's layout made file-friendly. The files' text is
``migration_files.py``'s; a down section's batch rebuild gets its table's own text back
in ``batch_restore.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from migrate_tasks.errors import MigrateError
from migrate_tasks.from_alembic.batch_restore import restored_table
from migrate_tasks.sql.lexer import tokens
from migrate_tasks.sql.literals import inline_params
from migrate_tasks.sql.normalise import canonical_tokens
from migrate_tasks.sql.shapes import leading_words, pragma

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
                sql = restored_table(sql, before)
            out.append(verbatim(sql) if item.user else tidy(sql))
    return out


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
