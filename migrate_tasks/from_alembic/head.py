"""``import-alembic``, part three: the head schema Alembic built, read back from SQLite.

The default ("reset history") mode writes one migration: the ``CREATE`` statements as
SQLite stored them, tables ordered so that each follows the tables it references, the
rows the history inserted, then indexes, triggers and views; its down section drops the
tables in reverse. Also here: finding Alembic's version table, and the column defaults
libSQL cannot evaluate.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from migrate_tasks.drivers import open_driver
from migrate_tasks.drivers.base import Driver
from migrate_tasks.errors import DatabaseError
from migrate_tasks.from_alembic.sqlgen import created_key, tidy, verbatim
from migrate_tasks.sql.keywords import KEYWORDS
from migrate_tasks.sql.literals import sql_literal

ROWS_PER_INSERT = 100


@dataclass(frozen=True)
class _Object:
    type: str
    name: str
    table: str
    sql: str


def _head_objects(driver: Driver, hidden: set[str]) -> list[_Object]:
    rows = driver.query(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
    )
    objects = [_Object(str(t), str(n), str(tb), str(s)) for t, n, tb, s in rows]
    virtual = [o.name for o in objects if o.sql.upper().startswith("CREATE VIRTUAL")]
    return [
        o
        for o in objects
        if o.name.lower() not in hidden
        and o.table.lower() not in hidden
        # the shadow tables of a virtual table (FTS) come with it
        and not any(o.type == "table" and o.name.startswith(f"{v}_") for v in virtual)
    ]


def _table_order(driver: Driver, tables: Sequence[_Object]) -> tuple[list[_Object], bool]:
    """Tables so that each comes after those it references; True if they form a cycle."""
    names = {t.name.lower() for t in tables}
    needs: dict[str, set[str]] = {}
    for table in tables:
        rows = driver.query(
            'SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)', (table.name,)
        )
        needs[table.name.lower()] = {str(r[0]).lower() for r in rows} & names - {table.name.lower()}
    ordered: list[_Object] = []
    done: set[str] = set()
    remaining = list(tables)
    while remaining:
        ready = next((t for t in remaining if needs[t.name.lower()] <= done), None)
        if ready is None:  # a cycle: keep Alembic's order for the rest
            return ordered + remaining, True
        ordered.append(ready)
        done.add(ready.name.lower())
        remaining.remove(ready)
    return ordered, False


def identifier(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name.upper() not in KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def _rows(driver: Driver, table: _Object) -> list[str]:
    """The rows the history inserted (lookup data, say), as INSERT statements."""
    if table.sql.upper().startswith("CREATE VIRTUAL"):
        return []
    columns = [
        str(r[0])
        for r in driver.query(
            "SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0", (table.name,)
        )
    ]
    if not columns:
        return []
    listed = ", ".join(identifier(c) for c in columns)
    rows = driver.query(f"SELECT {listed} FROM {identifier(table.name)}")
    statements = []
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        values = ",\n  ".join("(" + ", ".join(sql_literal(v) for v in row) + ")" for row in chunk)
        statements.append(f"INSERT INTO {identifier(table.name)} ({listed}) VALUES\n  {values}")
    return statements


def head_sections(
    driver: Driver, hidden: set[str], written: Collection[str] = ()
) -> tuple[list[str], list[str], bool]:
    """Up and down statements of the head schema; True if down needs foreign keys off.
    ``written``: the ``created_key`` of the CREATE statements the project wrote itself;
    an object SQLite still stores as written keeps its bytes."""
    objects = _head_objects(driver, hidden)
    tables, cyclic = _table_order(driver, [o for o in objects if o.type == "table"])

    def text(o: _Object) -> str:
        return verbatim(o.sql) if created_key(o.sql) in written else tidy(o.sql)

    up = [text(t) for t in tables]
    for table in tables:
        up += _rows(driver, table)
    for kind in ("index", "trigger", "view"):
        up += [text(o) for o in objects if o.type == kind]
    down = [f"DROP VIEW {identifier(o.name)}" for o in reversed(objects) if o.type == "view"]
    down += [f"DROP TABLE {identifier(t.name)}" for t in reversed(tables)]
    return up, down, cyclic


def version_table(driver: Driver) -> str | None:
    """Alembic's version table: the one table whose only column is ``version_num``."""
    rows = driver.query(
        "SELECT m.name FROM sqlite_master AS m WHERE m.type = 'table' AND"
        " (SELECT group_concat(name) FROM pragma_table_info(m.name)) = 'version_num'"
    )
    return str(rows[0][0]) if rows else None


def user_tables(driver: Driver) -> set[str]:
    rows = driver.query("SELECT lower(name) FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in rows}


def unusable_defaults(driver: Driver) -> list[str]:
    """Column defaults libSQL cannot evaluate. SQLite accepts ``DEFAULT (now())`` in CREATE
    TABLE and fails only at the INSERT that needs it, so a PostgreSQL spelling such as
    ``sa.text('now()')`` would otherwise surface in production."""
    rows = driver.query(
        "SELECT m.name, c.name, c.dflt_value FROM sqlite_master AS m"
        " JOIN pragma_table_xinfo(m.name) AS c"
        " WHERE m.type = 'table' AND c.dflt_value IS NOT NULL ORDER BY m.name, c.cid"
    )
    problems = []
    probe = open_driver(":memory:", None)
    try:
        for table, column, default in rows:
            try:
                probe.query(f"SELECT {default}")
            except DatabaseError as exc:
                problems.append(
                    f"{table}.{column} has DEFAULT {default}, which libSQL cannot evaluate"
                    f" ({exc.message}): every INSERT that leaves the column out fails. Use"
                    " CURRENT_TIMESTAMP for now() (sa.func.now() renders it on SQLite)"
                )
    finally:
        probe.close()
    return problems
