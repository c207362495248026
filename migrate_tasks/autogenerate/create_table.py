"""What only the text of a ``CREATE TABLE`` says, read from its canonical tokens.

SQLite's PRAGMAs tell columns, keys and indexes but not ``CHECK`` constraints, the names
of constraints, ``WITHOUT ROWID``/``STRICT`` or each column's definition as written;
those are read here from the stored statement (``reflect.py`` combines both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from migrate_tasks.autogenerate.schema import Check, column_key
from migrate_tasks.autogenerate.sqltext import canonical_expression
from migrate_tasks.sql.lexer import Token, unquote
from migrate_tasks.sql.normalise import canonical_tokens, join_tokens, matching, split_top

#: First words of a table constraint (anything else in the body is a column).
_TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
#: Column-constraint keywords that end a pending ``CONSTRAINT name``.
_OTHER_CONSTRAINTS = frozenset({"PRIMARY", "NOT", "NULL", "DEFAULT", "COLLATE", "GENERATED", "AS"})


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
        _read_constraints(part, column, checks, unique_names, fk_names)
    return TableText(
        tuple(checks),
        unique_names,
        fk_names,
        join_tokens(toks[closing + 1 :]).upper(),
        any(t.text == "AUTOINCREMENT" for t in toks),
        column_sql,
    )


def _read_constraints(
    part: Sequence[Token],
    column: str | None,
    checks: list[Check],
    unique_names: dict[tuple[str, ...], str | None],
    fk_names: dict[tuple[str, ...], str | None],
) -> None:
    """The constraints in one part of the body, with their names: a column's definition
    (``column`` its name) or, when ``column`` is None, a table constraint."""
    table_level = column is None
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
            unique_names[column_key(cols)] = pending
            pending = None
        elif word == "FOREIGN":
            fk_names[column_key(_names_in_parens(part, i + 1))] = pending
            pending = None
        elif word == "REFERENCES" and column is not None:
            fk_names[(column.lower(),)] = pending
            pending = None
        elif word in _OTHER_CONSTRAINTS:
            pending = None
        i += 1


def _names_in_parens(part: Sequence[Token], start: int) -> tuple[str, ...]:
    """The comma-separated names in the first parentheses at or after ``start``."""
    opening = next((i for i in range(start, len(part)) if part[i].text == "("), None)
    if opening is None:
        return ()
    closing = matching(part, opening) or len(part)
    groups = split_top(part[opening + 1 : closing], ",")
    return tuple(unquote(g[0].text) for g in groups if g)
