"""``import-alembic --per-revision``: a batch rebuild in a down section, given back the
table's own text.

Alembic's batch mode rebuilds a table from reflection, which can spell it differently
(constraint order, ``DEFAULT (x)``), so ``verify`` would see a down that does not undo
its up. Where SQLite's catalogue says the rebuilt table is the same as the one the
revision's up started from, that table's stored ``CREATE`` is used instead. The one
impurity of the SQL generation: an in-memory SQLite answers whether two ``CREATE
TABLE`` statements define the same table.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from typing import Any

from migrate_tasks.sql.lexer import unquote

_CREATE_TABLE = re.compile(
    r"""^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"""
    r"""("(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`|[A-Za-z_][\w$]*)""",
    re.IGNORECASE,
)


TMP_PREFIX = "_alembic_tmp_"


def restored_table(sql: str, before: Mapping[str, str]) -> str:
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
