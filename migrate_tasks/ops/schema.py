"""The user's schema objects in a database, each statement in canonical form.

What ``dump``, ``verify``, ``baseline``, ``generate`` and ``import-alembic`` read from a
database: the rows of ``sqlite_schema``, normalised by ``sql/normalise.py``, in a stable
order (tables first, so a reader meets them before their indexes). Left out: ``sqlite_*``
internals, our tracking tables, and libSQL's vector-index shadow tables
(``libsql_vector_meta_shadow`` and ``<index>_shadow`` with its index).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from migrate_tasks.drivers.base import Driver
from migrate_tasks.sql.normalise import canonical_tokens, normalise_sql

#: Output order of object types (tables first, so a reader meets them before their indexes).
TYPE_ORDER = ("table", "index", "trigger", "view")
VECTOR_META = "libsql_vector_meta_shadow"


@dataclass(frozen=True)
class SchemaObject:
    """One row of ``sqlite_schema`` with its statement in canonical form."""

    type: str
    name: str
    table: str
    sql: str


def read_schema(driver: Driver, table: str | None) -> list[SchemaObject]:
    """The user's schema objects in output order: tables, indexes, triggers, views, each by
    name. ``table`` is the tracking-table prefix (``<table>``, ``_log`` and ``_lock`` are
    ours and left out); None keeps them (to tell whether a database is empty)."""
    rows = driver.query(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )
    return schema_objects(rows, table)


def schema_objects(rows: Iterable[Sequence[object]], table: str | None) -> list[SchemaObject]:
    """Pure part of :func:`read_schema`: filter and normalise ``(type, name, tbl_name, sql)``."""
    rows = [(str(t), str(n), str(tb), str(s)) for t, n, tb, s in rows if s is not None]
    ours = {table, f"{table}_log", f"{table}_lock"} if table else set()
    vector_shadows = {
        f"{name}_shadow"
        for kind, name, _tbl, sql in rows
        if kind == "index"
        and "libsql_vector_idx" in sql.lower()
        and any(t.text.lower() == "libsql_vector_idx" for t in canonical_tokens(sql))
    }
    hidden = ours | vector_shadows | {VECTOR_META}
    objects = [
        SchemaObject(kind, name, tbl, normalise_sql(sql))
        for kind, name, tbl, sql in rows
        if kind in TYPE_ORDER
        and not name.lower().startswith("sqlite_")
        and name not in hidden
        and tbl not in hidden
    ]
    return sorted(objects, key=lambda o: (TYPE_ORDER.index(o.type), o.name.lower(), o.name))
