"""SQLite's table rebuild, for the changes ``ALTER TABLE`` cannot make, and its undoing.

The procedure SQLite documents (https://sqlite.org/lang_altertable.html#otheralter):

    CREATE TABLE "_new_t" (...the new definition...);
    INSERT INTO "_new_t" (cols) SELECT cols FROM "t";
    DROP TABLE "t";
    ALTER TABLE "_new_t" RENAME TO "t";
    -- then t's indexes and triggers again

The foreign-key steps of that procedure are the engine's (``render.py`` asks for
``foreign_keys:off``). A column that becomes NOT NULL is copied with
``coalesce(col, <its new default>)`` when the model gives a server default; without
one, a NULL makes the INSERT fail, naming the column, and nothing of the migration is
applied.

Down rebuilds the table exactly as it was: its stored ``CREATE``, indexes and triggers,
reused verbatim. A dropped column comes back with its default, or for a NOT NULL column
without one a placeholder of its affinity (``''``, ``0``, ``X''``), with a comment: its
values are gone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from migrate_tasks.autogenerate.migration import Operation
from migrate_tasks.autogenerate.schema import Column, Table
from migrate_tasks.autogenerate.sqltext import quote
from migrate_tasks.lint.types import affinity

TEMP_PREFIX = "_new_"
_CREATE_TABLE = re.compile(
    r"\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?", re.IGNORECASE
)
_NAME = r"""(?:"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[^\s(."\[`]+)"""
#: A table name, perhaps schema-qualified (``main."t"``).
_TABLE_NAME = re.compile(rf"(?:{_NAME}\s*\.\s*)?{_NAME}")


def rebuild_operation(original: Table, target: Table, renames: Mapping[str, str]) -> Operation:
    """Up: ``original`` rebuilt as ``target`` (``renames``: a lower-case old column name
    -> its new name), with its indexes, triggers and vector indexes; down: ``rebuild_back``."""
    back = {new.lower(): old for old, new in renames.items()}
    up = [f"-- rebuild {target.name}: new table, copy the rows, drop the old one, rename"]
    up += rebuild(target.name, target.sql, target.columns, original.columns, back)
    up += [i.sql for i in target.indexes]
    up += [sql for _name, sql in (*original.unmanaged_indexes, *original.triggers)]
    return Operation(up, rebuild_back(original, target, renames))


def rebuild_back(original: Table, target: Table, renames: Mapping[str, str]) -> list[str]:
    """Down: the table exactly as it was (its stored CREATE, indexes and triggers)."""
    down = [f"-- rebuild {original.name} as it was before"]
    down += rebuild(
        original.name, original.sql, original.columns, target.columns, renames, fill_missing=True
    )
    down += [i.sql for i in original.indexes]
    down += [sql for _name, sql in (*original.unmanaged_indexes, *original.triggers)]
    return down


def rebuild(
    name: str,
    create_sql: str,
    columns: Sequence[Column],
    source: Sequence[Column],
    source_of: Mapping[str, str],
    *,
    fill_missing: bool = False,
) -> list[str]:
    """SQLite's table rebuild: create ``_new_<name>`` from ``create_sql`` (whose
    ``columns`` they are), copy the rows of ``name`` (whose columns are ``source``;
    ``source_of`` maps a lower-case new name to its old name), drop, rename.
    ``fill_missing``: give NOT NULL columns without a source and a default a placeholder."""
    temp = TEMP_PREFIX + name
    statements = [rename_create(create_sql, temp)]
    by_name = {c.name.lower(): c for c in source if not c.hidden}
    names: list[str] = []
    values: list[str] = []
    for column in columns:
        if column.hidden:
            continue
        origin = by_name.get(source_of.get(column.name.lower(), column.name).lower())
        if origin is None:
            if fill_missing and column.notnull and column.default is None:
                filler = placeholder(column.type)
                statements.append(
                    f"-- {name}.{column.name} was dropped, its values are gone: rows get {filler}"
                )
                names.append(quote(column.name))
                values.append(filler)
            continue
        value = quote(origin.name)
        if column.notnull and not origin.notnull and column.default_sql is not None:
            value = f"coalesce({value}, {column.default_sql})"
        names.append(quote(column.name))
        values.append(value)
    if names:
        statements.append(
            f"INSERT INTO {quote(temp)} ({', '.join(names)})"
            f" SELECT {', '.join(values)} FROM {quote(name)}"
        )
    statements += [
        f"DROP TABLE {quote(name)}",
        f"ALTER TABLE {quote(temp)} RENAME TO {quote(name)}",
    ]
    return statements


def rename_create(sql: str, new_name: str) -> str:
    """``CREATE TABLE name (...)`` with another name, the rest of the text untouched."""
    head = _CREATE_TABLE.match(sql)
    name = _TABLE_NAME.match(sql, head.end()) if head else None
    if head is None or name is None:
        raise ValueError(f"not a CREATE TABLE statement: {sql[:60]!r}")
    return sql[: head.end()] + quote(new_name) + sql[name.end() :]


def placeholder(declared: str) -> str:
    """A value of the type's affinity for rows that must have one."""
    return {"TEXT": "''", "BLOB": "X''"}.get(affinity(declared), "0")
