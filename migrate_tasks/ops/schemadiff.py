"""What differs between two schemas, as SQLite and the programs that read it see them.

``baseline`` (the migrations' schema against a live database), ``verify`` (the schema
before a migration's up against the one after its down) and ``generate``'s proof all
ask the same question, and a text diff answers it badly: Alembic's batch rebuilds
write a table's FOREIGN KEY clauses in hash order, so the same table comes back with
its constraints shuffled. The rule, object by object (``sqlite_schema`` rows, matched
by type and name):

- names are compared exactly: SQLite finds ``Groups`` when asked for ``groups``, but
  readers (``SELECT *`` keys, PRAGMAs, reflection, pandas) see the stored spelling;
- a table's columns in order (``SELECT *`` and ``INSERT`` without a column list depend
  on it), each with its exact name, its declared type (case-insensitive, as SQLite
  reads it) and its constraints as a set (``NOT NULL DEFAULT 0`` = ``DEFAULT 0 NOT
  NULL``);
- its table constraints as a set, in any order; a column's ``REFERENCES``, ``UNIQUE``,
  ``CHECK`` and ``PRIMARY KEY`` count as the table-level constraint they are equivalent
  to (``a INT REFERENCES p`` = ``a INT, FOREIGN KEY (a) REFERENCES p``), except
  ``PRIMARY KEY DESC`` and ``AUTOINCREMENT``, which only exist on a column;
- indexes and triggers by their definition, views by their definition with the case of
  its names (a view's column names come from its text);
- everywhere, in the normaliser's canonical form (``sql/normalise.py``): whitespace,
  comments, keyword case and identifier quoting do not count, and neither does the case
  of a name where it only refers to something (expressions, ``REFERENCES``, ``ON
  table``): SQLite resolves those case-insensitively. A ``DEFAULT``'s outer parentheses
  do not count either.

Each difference names the object and what differs in it, with both sides' text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from migrate_tasks.ops.schema import SchemaObject
from migrate_tasks.sql.lexer import Token, unquote
from migrate_tasks.sql.normalise import (
    canonical_tokens,
    fold_name,
    join_tokens,
    matching,
    quote_name,
    split_top,
)

__all__ = ["Difference", "compare_schemas", "describe_differences"]

#: Keywords that start a column constraint (``NOT`` and ``NULL`` have exceptions below).
_STARTS = frozenset(
    {"CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE"}
    | {"REFERENCES", "GENERATED", "AS"}
)
_TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
#: Column constraints that say what holds anyway.
_NO_OPS = frozenset({"NULL", "DEFAULT NULL"})


@dataclass(frozen=True)
class Difference:
    """One schema object that is missing, extra, or defined differently (``details``:
    one line per column, constraint or property that differs)."""

    kind: str  # missing | extra | differs
    type: str  # table | index | trigger | view
    name: str
    table: str
    details: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f" (on {self.table})" if self.type in ("index", "trigger") else ""
        if self.kind == "differs":
            body = "\n".join(f"    {line}" for line in self.details)
            return f"{self.type} {self.name}{where} differs:\n{body}"
        return f"{self.kind} {self.type} {self.name}{where}"


def describe_differences(differences: Sequence[Difference]) -> str:
    return "\n".join(f"  {d.describe()}" for d in differences)


def compare_schemas(
    expected: Sequence[SchemaObject],
    actual: Sequence[SchemaObject],
    expected_label: str = "expected",
    actual_label: str = "actual",
) -> list[Difference]:
    """Object-by-object differences between two schemas (``schema.read_schema`` output),
    by the rule in this module's docstring; empty when they are the same."""
    want = {(o.type, fold_name(o.name)): o for o in expected}
    have = {(o.type, fold_name(o.name)): o for o in actual}
    sides = _Sides(expected_label, actual_label)
    found: list[Difference] = []
    for key, obj in want.items():
        other = have.get(key)
        if other is None:
            found.append(Difference("missing", obj.type, obj.name, obj.table))
            continue
        details = sides.pair("name", _code(obj.name), _code(other.name), obj.name != other.name)
        details += _compare_object(obj, other, sides)
        if details:
            found.append(Difference("differs", obj.type, obj.name, obj.table, tuple(details)))
    for key, obj in have.items():
        if key not in want:
            found.append(Difference("extra", obj.type, obj.name, obj.table))
    order = {"missing": 0, "extra": 1, "differs": 2}
    return sorted(found, key=lambda d: (order[d.kind], d.type != "table", d.name.lower()))


@dataclass(frozen=True)
class _Sides:
    """The two labels, and the one way a detail line puts both sides."""

    left: str
    right: str

    def pair(self, what: str, left: str | None, right: str | None, differs: bool) -> list[str]:
        if not differs:
            return []
        return [f"{what}: {left or 'none'} in {self.left}, {right or 'none'} in {self.right}"]


def _code(text: str) -> str:
    return f"`{text}`"


def _compare_object(one: SchemaObject, other: SchemaObject, sides: _Sides) -> list[str]:
    if one.sql == other.sql:  # the same canonical text (the usual case): nothing to parse
        return []
    if one.type == "table":
        left, right = table_shape(one.sql), table_shape(other.sql)
        if left is not None and right is not None:
            return _compare_tables(left, right, sides)
    key_one, key_other = definition_key(one), definition_key(other)
    return sides.pair("definition", _code(one.sql), _code(other.sql), key_one != key_other)


# -- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnShape:
    name: str
    #: Declared type, upper-case, canonical spacing.
    type: str
    #: The column's own constraints, canonical and case-folded, sorted.
    clauses: tuple[str, ...]
    #: The definition as written (canonical form), for messages.
    text: str = field(compare=False, default="")


@dataclass(frozen=True)
class TableShape:
    columns: tuple[ColumnShape, ...]
    #: Table constraints (and the column constraints equivalent to one), a set: their
    #: canonical, case-folded text -> the text as written, for messages.
    constraints: dict[str, str]
    #: What follows the column list (``WITHOUT ROWID``, ``STRICT``), upper-case.
    options: str


def table_shape(sql: str) -> TableShape | None:
    """A ``CREATE TABLE`` statement's columns and constraints; None when it has no column
    list (``CREATE VIRTUAL TABLE``), which is then compared as a whole."""
    toks = canonical_tokens(sql)
    words = [t.text for t in toks[:3] if t.kind == "keyword"]
    opening = next((i for i, t in enumerate(toks) if t.text in ("(", "AS")), None)
    if "VIRTUAL" in words or opening is None or toks[opening].text != "(":
        return None
    closing = matching(toks, opening)
    if closing is None:
        return None
    columns: list[ColumnShape] = []
    constraints: dict[str, str] = {}
    for part in split_top(toks[opening + 1 : closing], ","):
        if not part:
            continue
        if part[0].kind == "keyword" and part[0].text in _TABLE_CONSTRAINTS:
            constraints[_folded(part)] = join_tokens(part)
            continue
        column, moved = _column(part)
        columns.append(column)
        constraints.update((_folded(c), join_tokens(c)) for c in moved)
    options = join_tokens(toks[closing + 1 :]).upper()
    return TableShape(tuple(columns), constraints, options)


def _column(part: list[Token]) -> tuple[ColumnShape, list[list[Token]]]:
    """A column definition: its shape, and the constraints it declares that are table
    constraints in another spelling (rewritten as such)."""
    name = unquote(part[0].text)
    clauses = _clauses(part[1:])
    type_toks = clauses.pop(0)
    own: list[str] = []
    moved: list[list[Token]] = []
    label: list[Token] = []
    for clause in clauses:
        head = clause[0].text
        if head == "CONSTRAINT":
            label = clause
            continue
        table_level = _as_table_constraint(part[0], clause)
        if table_level is not None:
            moved.append(label + table_level)
        else:
            own.append(_folded(label + _plain_clause(clause)))
        label = []
    column_type = join_tokens(type_toks).upper()
    own = [c for c in own if c not in _NO_OPS]
    shape = ColumnShape(name, column_type, tuple(sorted(own)), join_tokens(part))
    return shape, moved


def _clauses(toks: list[Token]) -> list[list[Token]]:
    """The type, then one token list per column constraint."""
    out: list[list[Token]] = [[]]
    depth = 0
    for i, tok in enumerate(toks):
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if depth == 0 and tok.kind == "keyword" and _starts_clause(toks, i):
            out.append([])
        out[-1].append(tok)
    return out


def _starts_clause(toks: Sequence[Token], i: int) -> bool:
    word = toks[i].text
    before = toks[i - 1].text if i else ""
    after = toks[i + 1].text if i + 1 < len(toks) else ""
    if word not in _STARTS:
        return False
    if word == "NOT":
        return after != "DEFERRABLE"  # REFERENCES ... NOT DEFERRABLE
    if word in ("NULL", "DEFAULT"):
        return before not in ("NOT", "SET", "DEFAULT")  # NOT NULL, SET NULL, DEFAULT NULL
    if word == "AS":
        return before != "ALWAYS"  # GENERATED ALWAYS AS
    return before != "CONSTRAINT"


def _as_table_constraint(name: Token, clause: list[Token]) -> list[Token] | None:
    """``REFERENCES p (id)`` on column ``a`` -> ``FOREIGN KEY (a) REFERENCES p (id)``;
    ``UNIQUE`` -> ``UNIQUE (a)``; ``CHECK (...)`` as it is; ``PRIMARY KEY`` ->
    ``PRIMARY KEY (a)`` unless DESC or AUTOINCREMENT make it a column's own."""
    head = clause[0].text
    listed = [Token("op", "("), name, Token("op", ")")]
    if head == "REFERENCES":
        return [Token("keyword", "FOREIGN"), Token("keyword", "KEY"), *listed, *clause]
    if head == "UNIQUE":
        return [clause[0], *listed, *clause[1:]]
    if head == "CHECK":
        return clause
    words = {t.text for t in clause if t.kind == "keyword"}
    if head == "PRIMARY" and not words & {"DESC", "AUTOINCREMENT"}:
        rest = [t for t in clause[2:] if t.text != "ASC"]
        return [*clause[:2], *listed, *rest]
    return None


def _plain_clause(clause: list[Token]) -> list[Token]:
    """A column constraint without the words that change nothing: ``DEFAULT ('x')`` ->
    ``DEFAULT 'x'``; ``GENERATED ALWAYS AS (e) VIRTUAL`` -> ``AS (e)``."""
    head = clause[0].text
    if head == "GENERATED" and len(clause) > 2:
        return _plain_clause(clause[2:])
    if head == "AS" and clause[-1].text == "VIRTUAL" and clause[-1].kind == "keyword":
        return clause[:-1]
    if head != "DEFAULT" or len(clause) < 3 or clause[1].text != "(":
        return clause
    if matching(clause, 1) != len(clause) - 1:
        return clause
    return _plain_clause([clause[0], *clause[2:-1]])


def _folded(toks: Sequence[Token]) -> str:
    """Comparable text: canonical, names case-folded and uniformly quoted, except a
    constraint's own name (``CONSTRAINT name``), which keeps its case."""
    out = []
    for i, tok in enumerate(toks):
        if tok.kind == "ident":
            own_name = i > 0 and toks[i - 1].text == "CONSTRAINT"
            name = unquote(tok.text)
            tok = Token("ident", quote_name(name if own_name else fold_name(name)))
        out.append(tok)
    return join_tokens(out)


def definition_key(obj: SchemaObject) -> str:
    """An index, trigger or view (or a table without a column list) in comparable form:
    without ``IF NOT EXISTS``, names case-folded except in a view."""
    toks = canonical_tokens(obj.sql)
    words = [t.text for t in toks]
    for i in range(len(words) - 2):
        if words[i : i + 3] == ["IF", "NOT", "EXISTS"]:
            toks = toks[:i] + toks[i + 3 :]
            break
    if obj.type != "view":
        return _folded(toks)
    return join_tokens(
        [Token("ident", quote_name(unquote(t.text))) if t.kind == "ident" else t for t in toks]
    )


# -- tables ---------------------------------------------------------------------------------


def _compare_tables(one: TableShape, other: TableShape, sides: _Sides) -> list[str]:
    details: list[str] = []
    left = {fold_name(c.name): c for c in one.columns}
    right = {fold_name(c.name): c for c in other.columns}
    for key, column in left.items():
        twin = right.get(key)
        if twin is None:
            details += sides.pair(f"column {column.name}", _code(column.text), None, True)
        elif twin.name != column.name:
            details += sides.pair(
                f"column {column.name}", _code(column.name), _code(twin.name), True
            )
        if twin is not None and (twin.type, twin.clauses) != (column.type, column.clauses):
            details += sides.pair(
                f"column {column.name}", _code(column.text), _code(twin.text), True
            )
    for key, column in right.items():
        if key not in left:
            details += sides.pair(f"column {column.name}", None, _code(column.text), True)
    shared_left = [fold_name(c.name) for c in one.columns if fold_name(c.name) in right]
    shared_right = [fold_name(c.name) for c in other.columns if fold_name(c.name) in left]
    details += sides.pair(
        "column order",
        _listed(one.columns, right),
        _listed(other.columns, left),
        shared_left != shared_right,
    )
    for key in sorted(one.constraints.keys() - other.constraints.keys()):
        details += sides.pair("constraint", _code(one.constraints[key]), None, True)
    for key in sorted(other.constraints.keys() - one.constraints.keys()):
        details += sides.pair("constraint", None, _code(other.constraints[key]), True)
    details += sides.pair(
        "table options",
        _code(one.options) if one.options else None,
        _code(other.options) if other.options else None,
        one.options != other.options,
    )
    return details


def _listed(columns: Sequence[ColumnShape], shared: dict[str, ColumnShape]) -> str:
    return "(" + ", ".join(c.name for c in columns if fold_name(c.name) in shared) + ")"
