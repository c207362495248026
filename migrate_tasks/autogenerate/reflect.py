"""A database's tables as comparable shapes, read from SQLite's own catalogue.

Both sides of ``generate`` go through this one reader: the scratch database the
migrations build, and a private sqlite3 database holding the DDL the models render. A
difference is then a difference in the schema, never in how two readers describe it.
(SQLAlchemy's SQLite reflection was tried first: it misses column-level ``UNIQUE`` and
skips expression indexes with a warning.)

What SQLite's PRAGMAs know (columns, primary key, foreign keys, unique constraints,
indexes) comes from them; what only the ``CREATE TABLE`` text knows (``CHECK``
constraints, constraint names, ``WITHOUT ROWID``/``STRICT``, each column's definition)
comes from the text (``create_table.py``). Expressions (checks, defaults, index
definitions) are compared in canonical form (``sqltext.py``). The shapes themselves are
in ``schema.py``.

Pure apart from the ``query`` callable; no SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from migrate_tasks.autogenerate.create_table import TableText, parse_create_table
from migrate_tasks.autogenerate.schema import (
    NO_ACTION,
    Column,
    ForeignKey,
    Index,
    Schema,
    Table,
    Unique,
    column_key,
)
from migrate_tasks.autogenerate.sqltext import canonical_default, canonical_type, index_key
from migrate_tasks.ops.schema import VECTOR_META
from migrate_tasks.sql.normalise import canonical_tokens

#: ``query(sql, params)`` -> rows: a Driver's ``query`` or a sqlite3 connection's.
Query = Callable[[str, Sequence[object]], Sequence[Sequence[object]]]


def reflect(query: Query, *, exclude: Iterable[str] = ()) -> Schema:
    """The schema of the database behind ``query``; ``exclude``: tables to leave out
    (our tracking tables)."""
    rows = [
        (str(t), str(n), str(tb), str(s))
        for t, n, tb, s in query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
            " ORDER BY rowid",
            (),
        )
    ]
    hidden = {name.lower() for name in exclude} | {VECTOR_META}
    skipped, unmanaged = _unmanaged(rows, hidden)
    keep = [
        r
        for r in rows
        if not r[1].lower().startswith("sqlite_")
        and r[1].lower() not in hidden
        and r[2].lower() not in hidden
    ]
    indexes: dict[str, list[Index]] = {}
    triggers: dict[str, list[tuple[str, str]]] = {}
    for kind, name, tbl, sql in keep:
        if kind == "index":
            indexes.setdefault(tbl.lower(), []).append(Index(name, tbl, sql, index_key(sql)))
        elif kind == "trigger":
            triggers.setdefault(tbl.lower(), []).append((name, sql))
    tables: dict[str, Table] = {}
    for kind, name, _tbl, sql in keep:
        if kind == "table":
            tables[name.lower()] = _read_table(
                query,
                name,
                sql,
                tuple(indexes.get(name.lower(), ())),
                tuple(triggers.get(name.lower(), ())),
            )
    tables = {
        k: replace(_resolve_references(t, tables), unmanaged_indexes=tuple(unmanaged.get(k, ())))
        for k, t in tables.items()
    }
    views = tuple((n, s) for kind, n, _t, s in keep if kind == "view")
    return Schema(tables, views, tuple(skipped))


#: One row of ``sqlite_master``: (type, name, tbl_name, sql).
_Row = tuple[str, str, str, str]


def _unmanaged(
    rows: Sequence[_Row], hidden: set[str]
) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """What generate leaves alone: virtual tables (with the tables they keep their data
    in) and libSQL vector indexes (with their shadow tables). Their names go into
    ``hidden``; returns them for the summary, and the vector indexes by table (a rebuild
    creates them again)."""
    skipped: list[str] = []
    unmanaged: dict[str, list[tuple[str, str]]] = {}
    for kind, name, tbl, sql in rows:
        first = [t.text for t in canonical_tokens(sql)[:3]]
        if kind == "table" and first[:3] == ["CREATE", "VIRTUAL", "TABLE"]:
            skipped.append(name)
            hidden.add(name.lower())
            hidden.update(o[1].lower() for o in rows if o[1].lower().startswith(name.lower() + "_"))
        if kind == "index" and any(
            t.text.lower() == "libsql_vector_idx" for t in canonical_tokens(sql)
        ):
            skipped.append(name)
            unmanaged.setdefault(tbl.lower(), []).append((name, sql))
            hidden.update({name.lower(), f"{name}_shadow".lower()})
    return skipped, unmanaged


def _read_table(
    query: Query,
    name: str,
    sql: str,
    indexes: tuple[Index, ...],
    triggers: tuple[tuple[str, str], ...],
) -> Table:
    text = parse_create_table(sql)
    columns, primary_key = _columns(query, name)
    return Table(
        name=name,
        sql=sql,
        columns=columns,
        primary_key=primary_key,
        uniques=_uniques(query, name, text),
        checks=text.checks,
        foreign_keys=_foreign_keys(query, name, text),
        options=text.options,
        autoincrement=text.autoincrement,
        indexes=indexes,
        triggers=triggers,
        column_sql=text.column_sql,
    )


def _columns(query: Query, name: str) -> tuple[tuple[Column, ...], tuple[str, ...]]:
    """The table's columns (generated ones included), and its primary key in key order."""
    columns = []
    pk: list[tuple[int, str]] = []
    for col_name, col_type, notnull, default, pk_pos, hidden in query(
        'SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)'
        " ORDER BY cid",
        (name,),
    ):
        default_sql = None if default is None else str(default)
        columns.append(
            Column(
                str(col_name),
                canonical_type(str(col_type or "")),
                bool(notnull),
                canonical_default(default_sql),
                default_sql,
                int(hidden or 0),
            )
        )
        if pk_pos:
            pk.append((int(str(pk_pos)), str(col_name)))
    return tuple(columns), tuple(c for _pos, c in sorted(pk))


def _uniques(query: Query, name: str, text: TableText) -> tuple[Unique, ...]:
    uniques = []
    for index_name, origin in query(
        "SELECT name, origin FROM pragma_index_list(?) WHERE origin = 'u' ORDER BY \"seq\"",
        (name,),
    ):
        del origin
        cols = tuple(
            str(c)
            for (c,) in query(
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (str(index_name),)
            )
        )
        uniques.append(Unique(cols, text.unique_names.get(column_key(cols))))
    return tuple(uniques)


def _foreign_keys(query: Query, name: str, text: TableText) -> tuple[ForeignKey, ...]:
    fks: dict[int, list[Sequence[object]]] = {}
    for row in query(
        'SELECT id, seq, "table", "from", "to", on_update, on_delete'
        " FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        (name,),
    ):
        fks.setdefault(int(str(row[0])), []).append(row)
    foreign_keys = []
    for _id, parts in sorted(fks.items(), reverse=True):  # ids count from the last one
        cols = tuple(str(p[3]) for p in parts)
        refs = tuple("" if p[4] is None else str(p[4]) for p in parts)
        foreign_keys.append(
            ForeignKey(
                cols,
                str(parts[0][2]),
                refs,
                str(parts[0][6] or NO_ACTION).upper(),
                str(parts[0][5] or NO_ACTION).upper(),
                text.foreign_key_names.get(column_key(cols)),
            )
        )
    return tuple(foreign_keys)


def _resolve_references(table: Table, tables: Mapping[str, Table]) -> Table:
    """``REFERENCES parent`` without columns means the parent's primary key."""
    if all(all(fk.ref_columns) for fk in table.foreign_keys):
        return table
    fixed = []
    for fk in table.foreign_keys:
        parent = tables.get(fk.table.lower())
        if not all(fk.ref_columns) and parent is not None and parent.primary_key:
            fk = replace(fk, ref_columns=parent.primary_key)
        fixed.append(fk)
    return replace(table, foreign_keys=tuple(fixed))
