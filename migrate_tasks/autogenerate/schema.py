"""The schema generate compares: tables, columns, keys, indexes and views as plain values.

Both sides of ``generate`` (the migrations' scratch database and the models' DDL) are
read into these by ``reflect.py``; ``diff.py`` compares them, ``render.py`` writes SQL
from them. Frozen dataclasses, so two shapes are equal exactly when the schema is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NO_ACTION = "NO ACTION"


@dataclass(frozen=True)
class Column:
    name: str
    #: Declared type, upper-case, canonical spacing ("VARCHAR(100)", "NUMERIC(10, 2)").
    type: str
    notnull: bool
    #: The DEFAULT expression in canonical form without outer parentheses (None: none).
    default: str | None
    #: The DEFAULT as stored, for use in SQL (COALESCE while copying rows).
    default_sql: str | None = field(default=None, compare=False)
    #: 0: ordinary; 2/3: generated (never copied by a rebuild).
    hidden: int = 0


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]
    on_delete: str = NO_ACTION
    on_update: str = NO_ACTION
    name: str | None = None

    def describe(self) -> str:
        text = f"({', '.join(self.columns)}) -> {self.table} ({', '.join(self.ref_columns)})"
        if self.on_delete != NO_ACTION:
            text += f" ON DELETE {self.on_delete}"
        if self.on_update != NO_ACTION:
            text += f" ON UPDATE {self.on_update}"
        return text


@dataclass(frozen=True)
class Unique:
    columns: tuple[str, ...]
    name: str | None = None


@dataclass(frozen=True)
class Check:
    #: Canonical, case-folded expression without outer parentheses.
    sql: str
    name: str | None = None


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    #: The ``CREATE INDEX`` statement as stored.
    sql: str
    #: Canonical, case-folded, without ``IF NOT EXISTS``: equal keys, equal indexes.
    key: str


@dataclass(frozen=True)
class Table:
    name: str
    #: The ``CREATE TABLE`` statement as stored (reused verbatim to restore the table).
    sql: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    uniques: tuple[Unique, ...] = ()
    checks: tuple[Check, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    #: What follows the column list, canonical ("WITHOUT ROWID", "STRICT", "").
    options: str = ""
    #: AUTOINCREMENT on the primary key.
    autoincrement: bool = False
    indexes: tuple[Index, ...] = ()
    #: (name, sql) of the triggers on this table, as stored.
    triggers: tuple[tuple[str, str], ...] = ()
    #: (name, sql) of indexes generate leaves alone (libSQL vector indexes): a rebuild
    #: creates them again, like the triggers.
    unmanaged_indexes: tuple[tuple[str, str], ...] = ()
    #: Each column's definition in canonical text, by lower-case name (for ADD COLUMN).
    column_sql: Mapping[str, str] = field(default_factory=dict, compare=False)

    def column(self, name: str) -> Column | None:
        wanted = name.lower()
        return next((c for c in self.columns if c.name.lower() == wanted), None)

    def index(self, name: str) -> Index | None:
        wanted = name.lower()
        return next((i for i in self.indexes if i.name.lower() == wanted), None)


@dataclass(frozen=True)
class Schema:
    #: By lower-case name, in creation order.
    tables: Mapping[str, Table]
    #: (name, sql) of every view, as stored, in creation order.
    views: tuple[tuple[str, str], ...] = ()
    #: Objects generate does not manage (virtual tables, vector indexes), left alone.
    skipped: tuple[str, ...] = ()

    def references_to(self, table: str) -> list[tuple[str, ForeignKey]]:
        """Every (child table, foreign key) that points at ``table`` (itself included)."""
        wanted = table.lower()
        return [
            (t.name, fk)
            for t in self.tables.values()
            for fk in t.foreign_keys
            if fk.table.lower() == wanted
        ]


def column_key(columns: Iterable[str]) -> tuple[str, ...]:
    """Column names as SQLite compares them (case-insensitively), for matching keys."""
    return tuple(c.lower() for c in columns)


def dependency_order(tables: Mapping[str, Table]) -> list[str]:
    """Lower-case table names, every table after the tables it references (when there is
    a cycle, in creation order); self-references do not count."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(key: str, path: set[str]) -> None:
        if key in seen or key in path:
            return
        path.add(key)
        for fk in tables[key].foreign_keys:
            parent = fk.table.lower()
            if parent != key and parent in tables:
                visit(parent, path)
        path.discard(key)
        seen.add(key)
        done.append(key)

    for key in tables:
        visit(key, set())
    return done
