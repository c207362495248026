"""A database's tables as comparable shapes, read from SQLite's own catalogue.

Both sides of ``generate`` go through this one reader: the scratch database the
migrations build, and a private sqlite3 database holding the DDL the models render. A
difference is then a difference in the schema, never in how two readers describe it.
(SQLAlchemy's SQLite reflection was tried first: it misses column-level ``UNIQUE`` and
skips expression indexes with a warning.)

What SQLite's PRAGMAs know (columns, primary key, foreign keys, unique constraints,
indexes) comes from them; what only the ``CREATE TABLE`` text knows (``CHECK``
constraints, constraint names, ``WITHOUT ROWID``/``STRICT``, each column's definition)
comes from the text, read as the normaliser's canonical tokens. Expressions (checks,
defaults, index definitions) are compared in that canonical form (``sql/normalise.py``)
with identifiers case-folded.

Pure apart from the ``query`` callable; no SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from migrate_tasks.ops.schema import VECTOR_META
from migrate_tasks.sql.keywords import KEYWORDS
from migrate_tasks.sql.lexer import Token, unquote
from migrate_tasks.sql.normalise import (
    canonical_tokens,
    join_tokens,
    matching,
    normalise_sql,
    split_top,
)

#: ``query(sql, params)`` -> rows: a Driver's ``query`` or a sqlite3 connection's.
Query = Callable[[str, Sequence[object]], Sequence[Sequence[object]]]

#: First words of a table constraint (anything else in the body is a column).
_TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
#: Column-constraint keywords that end a pending ``CONSTRAINT name``.
_OTHER_CONSTRAINTS = frozenset({"PRIMARY", "NOT", "NULL", "DEFAULT", "COLLATE", "GENERATED", "AS"})
NO_ACTION = "NO ACTION"
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


# -- reading --------------------------------------------------------------------------------


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


def _read_table(
    query: Query,
    name: str,
    sql: str,
    indexes: tuple[Index, ...],
    triggers: tuple[tuple[str, str], ...],
) -> Table:
    text = parse_create_table(sql)
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
        uniques.append(Unique(cols, text.unique_names.get(_key(cols))))
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
                text.foreign_key_names.get(_key(cols)),
            )
        )
    return Table(
        name=name,
        sql=sql,
        columns=tuple(columns),
        primary_key=tuple(c for _pos, c in sorted(pk)),
        uniques=tuple(uniques),
        checks=text.checks,
        foreign_keys=tuple(foreign_keys),
        options=text.options,
        autoincrement=text.autoincrement,
        indexes=indexes,
        triggers=triggers,
        column_sql=text.column_sql,
    )


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


def _key(columns: Iterable[str]) -> tuple[str, ...]:
    return tuple(c.lower() for c in columns)


# -- the CREATE TABLE text ------------------------------------------------------------------


@dataclass(frozen=True)
class TableText:
    """What only the text of a ``CREATE TABLE`` says."""

    checks: tuple[Check, ...] = ()
    unique_names: Mapping[tuple[str, ...], str | None] = field(default_factory=dict)
    foreign_key_names: Mapping[tuple[str, ...], str | None] = field(default_factory=dict)
    options: str = ""
    autoincrement: bool = False
    column_sql: Mapping[str, str] = field(default_factory=dict)


def parse_create_table(sql: str) -> TableText:
    """Checks, constraint names, table options and column definitions of ``sql``."""
    toks = canonical_tokens(sql)
    opening = next((i for i, t in enumerate(toks) if t.text == "("), None)
    closing = matching(toks, opening) if opening is not None else None
    if opening is None or closing is None:
        return TableText()
    checks: list[Check] = []
    unique_names: dict[tuple[str, ...], str | None] = {}
    fk_names: dict[tuple[str, ...], str | None] = {}
    column_sql: dict[str, str] = {}
    for part in split_top(toks[opening + 1 : closing], ","):
        if not part:
            continue
        table_level = part[0].kind == "keyword" and part[0].text in _TABLE_CONSTRAINTS
        column = None if table_level else unquote(part[0].text)
        if column is not None:
            column_sql[column.lower()] = join_tokens(part)
        pending: str | None = None
        i = 0 if table_level else 1
        while i < len(part):
            tok = part[i]
            if tok.kind != "keyword":
                i += 1
                continue
            word = tok.text
            if word == "CONSTRAINT" and i + 1 < len(part):
                pending = unquote(part[i + 1].text)
                i += 2
                continue
            if word == "CHECK" and i + 1 < len(part) and part[i + 1].text == "(":
                end = matching(part, i + 1)
                if end is None:
                    break
                checks.append(Check(canonical_expression(part[i + 2 : end]), pending))
                pending, i = None, end + 1
                continue
            if word == "UNIQUE":
                cols = _names_in_parens(part, i + 1) if table_level else (column or "",)
                unique_names[_key(cols)] = pending
                pending = None
            elif word == "FOREIGN":
                fk_names[_key(_names_in_parens(part, i + 1))] = pending
                pending = None
            elif word == "REFERENCES" and column is not None:
                fk_names[(column.lower(),)] = pending
                pending = None
            elif word in _OTHER_CONSTRAINTS:
                pending = None
            i += 1
    return TableText(
        tuple(checks),
        unique_names,
        fk_names,
        join_tokens(toks[closing + 1 :]).upper(),
        any(t.text == "AUTOINCREMENT" for t in toks),
        column_sql,
    )


def _names_in_parens(part: Sequence[Token], start: int) -> tuple[str, ...]:
    """The comma-separated names in the first parentheses at or after ``start``."""
    opening = next((i for i in range(start, len(part)) if part[i].text == "("), None)
    if opening is None:
        return ()
    closing = matching(part, opening) or len(part)
    groups = split_top(part[opening + 1 : closing], ",")
    return tuple(unquote(g[0].text) for g in groups if g)


def quote(name: str) -> str:
    """``name`` as an identifier in SQL text: bare when that is safe, else double-quoted."""
    if _PLAIN.fullmatch(name) and name.upper() not in KEYWORDS | {"TRUE", "FALSE"}:
        return name
    return '"' + name.replace('"', '""') + '"'


# -- canonical forms ------------------------------------------------------------------------


def canonical_type(declared: str) -> str:
    """``varchar( 100 )`` -> ``VARCHAR(100)``: type names are case-insensitive."""
    return join_tokens(canonical_tokens(declared)).upper() if declared.strip() else ""


def canonical_expression(toks: Sequence[Token]) -> str:
    """An expression's tokens, canonical and case-folded, outer parentheses removed."""
    return strip_parens(normalise_sql(join_tokens(toks), fold_case=True))


def canonical_default(default: str | None) -> str | None:
    if default is None:
        return None
    return strip_parens(normalise_sql(default, fold_case=True))


def strip_parens(text: str) -> str:
    """``((a > 0))`` -> ``a > 0``, but not ``(a) + (b)``."""
    while text.startswith("(") and text.endswith(")"):
        toks = canonical_tokens(text)
        if matching(toks, 0) != len(toks) - 1:
            break
        text = join_tokens(toks[1:-1])
    return text


def index_key(sql: str) -> str:
    toks = canonical_tokens(normalise_sql(sql, fold_case=True))
    words = [t.text for t in toks]
    for i in range(len(words) - 2):
        if words[i : i + 3] == ["IF", "NOT", "EXISTS"]:
            toks = toks[:i] + toks[i + 3 :]
            break
    return join_tokens(toks)


def mentions(sql: str, names: Iterable[str]) -> bool:
    """Does ``sql`` use any of ``names`` as an identifier (case-insensitive)?"""
    wanted = {n.lower() for n in names}
    return any(
        t.kind == "ident" and unquote(t.text).lower() in wanted
        for t in canonical_tokens(sql, fold_case=True)
    )


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
