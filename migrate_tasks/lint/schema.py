"""A database's schema as the lint rules see it: tables, columns, keys, indexes.

Read from a live connection (the scratch database the walk builds) with SQLite's own
PRAGMAs, so the answer is SQLite's, not a parse of ours. A ``Schema`` is a frozen
snapshot: the walk reads one after every statement that can change the schema, and
rules compare two of them. Table and index details are cached by their ``CREATE`` text,
which decides them, so a snapshot costs one query plus a few PRAGMAs per changed object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from migrate_tasks.drivers.base import Driver
from migrate_tasks.ops.schema import VECTOR_META
from migrate_tasks.sql.lexer import Token, tokens

_OBJECTS_SQL = (
    "SELECT type, name, tbl_name, sql FROM sqlite_schema"
    " WHERE type IN ('table', 'index', 'view', 'trigger')"
    " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    notnull: bool
    default: str | None
    #: Position in the primary key (1-based), 0 when not part of it.
    pk: int
    #: Generated (virtual or stored) columns are never copied or filled.
    generated: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of the child reference ``parent(parent_columns)``; no parent columns
    means the parent's primary key."""

    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    on_delete: str

    def describe(self, child: str) -> str:
        target = (
            f"{self.parent}({', '.join(self.parent_columns)})"
            if self.parent_columns
            else self.parent
        )
        return f"{child}({', '.join(self.columns)}) REFERENCES {target}"


@dataclass(frozen=True)
class Table:
    name: str
    sql: str
    columns: tuple[Column, ...]
    foreign_keys: tuple[ForeignKey, ...]
    #: Column sets the table's own constraints keep unique (PRIMARY KEY, UNIQUE), lower case.
    unique_keys: frozenset[frozenset[str]]
    #: CHECK constraints as written, whitespace collapsed (``check_expressions``).
    checks: frozenset[str]

    def column(self, name: str) -> Column | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in sorted(self.columns, key=lambda c: c.pk) if c.pk)


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    sql: str
    unique: bool
    partial: bool
    #: Column names in order; ``None`` entries are expressions.
    columns: tuple[str | None, ...]


@dataclass(frozen=True)
class Schema:
    """Tables and indexes by lower-case name; views and triggers by name only."""

    tables: Mapping[str, Table] = field(default_factory=dict)
    indexes: Mapping[str, Index] = field(default_factory=dict)
    others: frozenset[str] = frozenset()

    def table(self, name: str) -> Table | None:
        return self.tables.get(name.lower())

    def has_table(self, name: str) -> bool:
        return name.lower() in self.tables

    def indexes_of(self, table: str) -> list[Index]:
        lowered = table.lower()
        return [i for i in self.indexes.values() if i.table.lower() == lowered]

    def unique_keys(self, table: str) -> set[frozenset[str]]:
        """Every column set kept unique on ``table``: its constraints and its unique,
        non-partial indexes on plain columns."""
        found = self.table(table)
        keys = set(found.unique_keys) if found else set()
        for index in self.indexes_of(table):
            if index.unique and not index.partial and None not in index.columns:
                keys.add(frozenset(str(c).lower() for c in index.columns))
        return keys

    def children(self, parent: str) -> Iterator[tuple[Table, ForeignKey]]:
        """Every (other table, its foreign key) that references ``parent``."""
        lowered = parent.lower()
        for table in self.tables.values():
            if table.name.lower() == lowered:
                continue
            for fk in table.foreign_keys:
                if fk.parent.lower() == lowered:
                    yield table, fk


class SchemaReader:
    """Reads ``Schema`` snapshots from one connection, caching details by CREATE text."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._tables: dict[tuple[str, str], Table] = {}
        self._indexes: dict[tuple[str, str], Index] = {}

    def read(self) -> Schema:
        rows = [(str(t), str(n), str(tb), s) for t, n, tb, s in self.driver.query(_OBJECTS_SQL)]
        hidden = {VECTOR_META} | {
            f"{n}_shadow"
            for t, n, _, s in rows
            if t == "index" and "libsql_vector_idx" in str(s).lower()
        }
        tables: dict[str, Table] = {}
        indexes: dict[str, Index] = {}
        others = set()
        for kind, name, table, sql in rows:
            if name in hidden or table in hidden:
                continue
            if kind == "table" and sql is not None:
                tables[name.lower()] = self._table(name, str(sql))
            elif kind == "index" and sql is not None:
                indexes[name.lower()] = self._index(name, table, str(sql))
            else:
                others.add(name)
        return Schema(MappingProxyType(tables), MappingProxyType(indexes), frozenset(others))

    def _table(self, name: str, sql: str) -> Table:
        key = (name, sql)
        if key not in self._tables:
            self._tables[key] = self._read_table(name, sql)
        return self._tables[key]

    def _read_table(self, name: str, sql: str) -> Table:
        q = self.driver.query
        columns = tuple(
            Column(
                str(n), str(t or ""), bool(nn), None if d is None else str(d), int(pk), h in (2, 3)
            )
            for n, t, nn, d, pk, h in q(
                'SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)'
                " ORDER BY cid",
                (name,),
            )
            if h != 1  # hidden columns of virtual tables
        )
        grouped: dict[int, list[tuple]] = {}
        for row in q(
            'SELECT id, seq, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?)'
            " ORDER BY id, seq",
            (name,),
        ):
            grouped.setdefault(int(row[0]), []).append(row)
        fks = tuple(
            ForeignKey(
                tuple(str(r[3]) for r in rs),
                str(rs[0][2]),
                tuple(str(r[4]) for r in rs if r[4] is not None),
                str(rs[0][5] or "NO ACTION"),
            )
            for rs in grouped.values()
        )
        uniques = set()
        pk = [c.name.lower() for c in columns if c.pk]
        if pk:
            uniques.add(frozenset(pk))
        for index_name, _origin in q(
            "SELECT name, origin FROM pragma_index_list(?) WHERE origin IN ('u', 'pk')", (name,)
        ):
            cols = [r[0] for r in q("SELECT name FROM pragma_index_info(?)", (index_name,))]
            if cols and None not in cols:
                uniques.add(frozenset(str(c).lower() for c in cols))
        return Table(name, sql, columns, fks, frozenset(uniques), frozenset(check_expressions(sql)))

    def _index(self, name: str, table: str, sql: str) -> Index:
        key = (name, sql)
        if key not in self._indexes:
            columns = tuple(
                None if c is None else str(c)
                for (c,) in self.driver.query(
                    "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (name,)
                )
            )
            toks = tokens(sql, limit=3)
            unique = len(toks) > 1 and toks[1].is_word("UNIQUE")
            self._indexes[key] = Index(name, table, sql, unique, _has_where(sql), columns)
        return self._indexes[key]


def check_expressions(sql: str) -> list[str]:
    """The CHECK constraints of a CREATE TABLE as written (``CHECK (x > 0)``), runs of
    whitespace made one space so a reformatted table keeps its checks."""
    pieces = tokens(sql, keep=True)
    code = [i for i, t in enumerate(pieces) if t.kind not in ("space", "comment")]
    found = []
    for n, i in enumerate(code):
        if pieces[i].is_word("CHECK") and n + 1 < len(code) and pieces[code[n + 1]].text == "(":
            group = balanced([pieces[j] for j in code[n + 1 :]], 0)
            end = code[n + len(group)]
            text = "".join(t.text for t in pieces[i : end + 1])
            found.append(" ".join(text.split()))
    return found


def balanced(toks: list[Token], start: int) -> list[Token]:
    """The tokens of the parenthesised group opening at ``toks[start]``, parentheses included."""
    depth = 0
    for end in range(start, len(toks)):
        if toks[end].text == "(":
            depth += 1
        elif toks[end].text == ")":
            depth -= 1
            if depth == 0:
                return toks[start : end + 1]
    return toks[start:]


def _has_where(sql: str) -> bool:
    depth = 0
    for token in tokens(sql):
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        elif depth == 0 and token.is_word("WHERE"):
            return True
    return False
