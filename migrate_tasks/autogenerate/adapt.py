"""The models as SQLite will hold them, and advice for what does not carry over.

Models are often written for PostgreSQL. Rather than emit what SQLite would accept but
misread (a ``DEFAULT now()`` that fails at the first INSERT, a ``UUID`` column with
numeric affinity), this module works on a *copy* of the MetaData, adjusts the copy, and
says what it did and what to write instead. Then SQLAlchemy's SQLite dialect renders the
copy's DDL. The user's MetaData is never changed.

What is adjusted (each with a note):

- ``schema=``: dropped (SQLite has one schema per database);
- types the SQLite dialect cannot render (``ARRAY``, ``HSTORE`` -> JSON; ``BYTEA`` ->
  BLOB; ``INET``, ``INTERVAL``, ``TSVECTOR``, ... -> TEXT), ``JSONB`` without a SQLite
  variant -> JSON, ``UUID`` -> CHAR(32) (what ``sqlalchemy.Uuid`` stores on SQLite);
- server defaults in PostgreSQL syntax: ``now()`` and friends -> ``CURRENT_TIMESTAMP``;
  ``gen_random_uuid()``, casts (``::``), ``nextval()`` -> no server default;
- an ``Enum`` always gets a CHECK constraint named after the enum, even with
  ``create_constraint=False``: SQLite has no enum types, so the CHECK is the only place
  the allowed values can live.

Only reported: ``DateTime(timezone=True)`` (SQLite stores no offset), sequences and
``Identity()`` (an INTEGER PRIMARY KEY is assigned by SQLite), PostgreSQL-only index
options (``postgresql_using``, ``postgresql_where``, ...).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from migrate_tasks.autogenerate.diff import Note
from migrate_tasks.autogenerate.sqltext import quote
from migrate_tasks.autogenerate.target import require_sqlalchemy
from migrate_tasks.errors import UsageError

_NOW = re.compile(
    r"\b(now|clock_timestamp|statement_timestamp|transaction_timestamp|localtimestamp)\s*\(",
    re.IGNORECASE,
)
_UUID = re.compile(r"\b(gen_random_uuid|uuid_generate_v[1-5])\s*\(", re.IGNORECASE)
_OTHER = re.compile(r"::|\bnextval\s*\(|\binterval\b|\bat\s+time\s+zone\b", re.IGNORECASE)


def sqlite_ddl(metadata: Any) -> tuple[list[str], list[Note]]:
    """The models' ``CREATE TABLE`` and ``CREATE INDEX`` statements for SQLite, parents
    before children, and the notes about what was adjusted on the way."""
    sa = require_sqlalchemy()
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = sqlite.dialect()
    notes: list[Note] = []
    copy = _sqlite_copy(sa, metadata, notes)
    for table in copy.tables.values():
        for column in table.columns:
            _adapt_type(sa, dialect, table, column, notes)
            _adapt_default(sa, dialect, table, column, notes)
            _report_generators(sa, table, column, notes)
        for index in table.indexes:
            _report_index_options(table, index, notes)
    ddl: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)  # cycles: reported by SQLite later
        ordered = copy.sorted_tables
    for table in ordered:
        try:
            ddl.append(str(CreateTable(table).compile(dialect=dialect)).strip())
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                ddl.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
        except sa.exc.SQLAlchemyError as exc:
            raise UsageError(
                f"table {table.name}: SQLAlchemy cannot render it for SQLite: {exc}"
            ) from None
    return ddl, notes


def _sqlite_copy(sa: Any, metadata: Any, notes: list[Note]) -> Any:
    copy = sa.MetaData(naming_convention=dict(metadata.naming_convention))
    for original in metadata.tables.values():
        if original.name in copy.tables:
            raise UsageError(
                f"two tables are named {original.name} (in different schemas); SQLite has one"
                " schema per database, so give them different names"
            )
        if original.schema:
            notes.append(
                Note(
                    "advice",
                    f"{original.schema}.{original.name}: SQLite has no schemas; the table is"
                    f" created as {original.name} (drop schema={original.schema!r}, or set it"
                    " per database with schema_translate_map)",
                )
            )
        table = original.to_metadata(copy, schema=None, referred_schema_fn=lambda *_args: None)
        _keep_declared_order(original, table)
    return copy


def _keep_declared_order(original: Any, table: Any) -> None:
    """``to_metadata`` copies a table's constraints in set (hash) order, and SQLAlchemy
    renders them in the order they were created: give each copy its original's place, so
    the same models always give the same migration text."""
    order = {_signature(c): getattr(c, "_creation_order", None) for c in original.constraints}
    for constraint in table.constraints:
        place = order.get(_signature(constraint))
        if place is not None:
            constraint._creation_order = place


def _signature(constraint: Any) -> tuple[object, ...]:
    columns = tuple(c.name for c in getattr(constraint, "columns", ()))
    targets = tuple(e.target_fullname for e in getattr(constraint, "elements", ()))
    text = str(getattr(constraint, "sqltext", ""))
    return (type(constraint).__name__, constraint.name, columns, targets, text)


def _plain_jsonb(kind: Any) -> bool:
    """A PostgreSQL ``JSONB`` with no SQLite variant: SQLAlchemy 2.0 cannot render it for
    SQLite at all (2.1 renders "JSONB"), so it is recognised here, not by compiling it."""
    from sqlalchemy.dialects import postgresql

    variants = getattr(kind, "_variant_mapping", {})
    return isinstance(kind, postgresql.JSONB) and "sqlite" not in variants


def _adapt_type(sa: Any, dialect: Any, table: Any, column: Any, notes: list[Note]) -> None:
    where = f"{table.name}.{column.name}"
    kind = column.type
    if isinstance(kind, sa.Enum):
        _enum_check(sa, table, column, notes)
    try:
        rendered = "JSONB" if _plain_jsonb(kind) else str(kind.compile(dialect=dialect))
    except sa.exc.CompileError:
        replacement, advice = _fallback(sa, kind)
        column.type = replacement
        notes.append(Note("advice", f"{where}: {type(kind).__name__} {advice}"))
        return
    except Exception as exc:  # a user-defined type that cannot render itself
        raise UsageError(
            f"{where}: SQLAlchemy cannot render the type {kind!r} for SQLite:"
            f" {type(exc).__name__}: {exc}"
        ) from None
    if rendered.upper() == "JSONB":
        column.type = sa.JSON()
        notes.append(
            Note(
                "advice",
                f"{where}: JSONB has no SQLite form; emitted as JSON. Write"
                " JSON().with_variant(JSONB(), 'postgresql') to keep JSONB on PostgreSQL",
            )
        )
    elif rendered.upper() == "UUID":
        column.type = sa.CHAR(32)
        notes.append(
            Note(
                "advice",
                f"{where}: UUID is not a SQLite type (its affinity is NUMERIC, which turns"
                " digit-only values into numbers); emitted as CHAR(32), what sqlalchemy.Uuid"
                " stores on SQLite. Use sqlalchemy.Uuid in the model",
            )
        )
    elif getattr(kind, "timezone", False):
        notes.append(
            Note(
                "advice",
                f"{where}: {type(kind).__name__}(timezone=True): SQLite stores no time zone;"
                f" emitted as {rendered}. Store UTC and convert in Python",
            )
        )


def _fallback(sa: Any, kind: Any) -> tuple[Any, str]:
    name = type(kind).__name__.upper()
    if isinstance(kind, sa.ARRAY) or name == "HSTORE":
        return sa.JSON(), "has no SQLite equivalent; emitted as JSON (or use a child table)"
    if isinstance(kind, sa.LargeBinary):
        return sa.LargeBinary(), "is emitted as BLOB"
    return sa.Text(), "has no SQLite equivalent; emitted as TEXT"


def _enum_check(sa: Any, table: Any, column: Any, notes: list[Note]) -> None:
    """SQLAlchemy writes an enum's CHECK only with ``create_constraint=True``; SQLite has no
    enum type, so without the CHECK any text would do. Add it, and say so."""
    kind = column.type
    if getattr(kind, "create_constraint", False):
        return
    values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in kind.enums)
    name = kind.name if kind.name and kind.name not in _constraint_names(table) else None
    table.append_constraint(sa.CheckConstraint(f"{quote(column.name)} IN ({values})", name=name))
    notes.append(
        Note(
            "info",
            f"{table.name}.{column.name}: enum {kind.name or ''} becomes CHECK ({column.name} IN"
            f" ({values})), although create_constraint=False: SQLite has no enum types",
        )
    )


def _constraint_names(table: Any) -> set[str]:
    return {str(c.name) for c in table.constraints if isinstance(c.name, str)}


def _adapt_default(sa: Any, dialect: Any, table: Any, column: Any, notes: list[Note]) -> None:
    default = column.server_default
    if not isinstance(default, sa.DefaultClause) or isinstance(default.arg, str):
        return
    arg = default.arg
    text = arg.text if isinstance(arg, sa.TextClause) else str(arg.compile(dialect=dialect))
    where = f"{table.name}.{column.name}"
    if _NOW.search(text):
        column.server_default = sa.DefaultClause(sa.text("CURRENT_TIMESTAMP"))
        notes.append(
            Note(
                "advice",
                f"{where}: server default {text} is PostgreSQL; emitted as CURRENT_TIMESTAMP."
                " Write server_default=func.now(), which SQLAlchemy renders for each database",
            )
        )
    elif _UUID.search(text):
        column.server_default = None
        notes.append(
            Note(
                "advice",
                f"{where}: SQLite has no {text}; emitted without a server default. Generate"
                " the value in Python (default=uuid.uuid4), or use"
                ' server_default=text("(lower(hex(randomblob(16))))")',
            )
        )
    elif _OTHER.search(text):
        column.server_default = None
        notes.append(
            Note(
                "advice",
                f"{where}: server default {text} is PostgreSQL syntax; emitted without a"
                " server default. Write one SQLite accepts (a literal, or an expression in"
                " parentheses)",
            )
        )


def _report_generators(sa: Any, table: Any, column: Any, notes: list[Note]) -> None:
    where = f"{table.name}.{column.name}"
    if isinstance(column.default, sa.Sequence):
        notes.append(
            Note(
                "advice",
                f"{where}: SQLite has no sequences; Sequence({column.default.name!r}) is"
                " ignored. An INTEGER PRIMARY KEY gets its values from SQLite's rowid",
            )
        )
    if getattr(column, "identity", None) is not None:
        column.identity = None
        notes.append(
            Note(
                "advice",
                f"{where}: Identity() is ignored on SQLite; an INTEGER PRIMARY KEY gets its"
                " values from SQLite's rowid",
            )
        )


def _report_index_options(table: Any, index: Any, notes: list[Note]) -> None:
    options = {
        k: v
        for k, v in index.dialect_kwargs.items()
        if k.startswith("postgresql_") and v is not None and v is not False
    }
    if not options:
        return
    names = ", ".join(sorted(options))
    text = f"index {index.name} on {table.name}: {names} apply to PostgreSQL only"
    if "postgresql_where" in options and not index.dialect_kwargs.get("sqlite_where"):
        text += (
            "; without sqlite_where= the index covers every row on SQLite (a unique"
            " index then applies to all rows)"
        )
    notes.append(Note("advice", text))
