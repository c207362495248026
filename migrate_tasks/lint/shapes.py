"""What one statement does, read from its tokens: the lint's view of a statement.

Pure, on the package's one lexer (``sql/lexer.py``). ``sql/shapes.py`` answers the
engine's few questions (drops, renames, ``ALTER COLUMN``, PRAGMAs); the lint needs a
few more shapes (indexes, column changes, copies, UPDATE and DELETE), read the same
way: comments, strings and quoted names as SQLite reads them, only the first tokens of
a long statement. What a statement does to the schema is then read from the scratch
database itself (``schema.py``), not guessed from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from migrate_tasks.sql.lexer import Token, tokens, unquote

#: Tokens lexed to tell a statement's shape; an INSERT ... SELECT copy gets more.
_HEAD = 24
_COPY = 4000

_COLUMN_WORDS = ("ADD", "DROP", "RENAME", "ALTER")


@dataclass(frozen=True)
class Shape:
    """``kind`` and the names involved (as written, unquoted).

    Kinds: ``create_table``, ``create_index`` (``unique``), ``drop_index``,
    ``drop_table``, ``rename_table`` (``new_name``), ``rename_column`` (``column`` ->
    ``new_name``), ``add_column``, ``drop_column`` (``column``), ``alter_column``
    (``column``; libSQL), ``insert`` (``sources``: tables read by its SELECT,
    ``columns``: its column list, ``coalesced``: columns wrapped in COALESCE/IFNULL),
    ``update``, ``delete``, ``pragma`` (``name``, ``value``), ``other``.
    """

    kind: str
    table: str = ""
    name: str = ""
    new_name: str = ""
    column: str = ""
    unique: bool = False
    value: str | None = None
    select: bool = False
    sources: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None
    coalesced: frozenset[str] = frozenset()
    #: ``delete``: has a WHERE (without one SQLite empties the table at once).
    where: bool = False


OTHER = Shape("other")


#: ``INSERT ... INTO name [(columns)] VALUES``, the bulk of a data file, told apart
#: without lexing (anything unusual, such as a comment in the head, takes the lexer).
_PLAIN_INSERT = re.compile(
    r"""(?:INSERT(?:\s+OR\s+[A-Z]+)?|REPLACE)\s+INTO\s+
    (?:[A-Za-z_][\w$]*\s*\.\s*)?("[^"]*"|\[[^\]]*\]|`[^`]*`|[A-Za-z_][\w$]*)
    \s*(?:\([^()'"`\[-]*\)\s*)?(?:VALUES|DEFAULT\s+VALUES)\b""",
    re.IGNORECASE | re.VERBOSE,
)


def shape_of(sql: str) -> Shape:
    """The shape of one statement (``OTHER`` for anything the rules do not follow)."""
    plain = _PLAIN_INSERT.match(sql)
    if plain is not None:
        return Shape("insert", table=unquote(plain.group(1)))
    toks = tokens(sql, limit=_HEAD)
    if not toks or toks[0].kind != "word":
        return OTHER
    first = toks[0].text.upper()
    if first == "CREATE":
        return _create(toks)
    if first == "DROP":
        return _drop(toks)
    if first == "ALTER":
        return _alter(toks)
    if first in ("INSERT", "REPLACE"):
        return _insert(sql)
    if first == "UPDATE":
        rest = _skip_or(toks[1:])
        name, _ = qualified_name(rest)
        return Shape("update", table=name or "")
    if first == "DELETE" and len(toks) > 1 and toks[1].is_word("FROM"):
        name, rest = qualified_name(toks[2:])
        return Shape("delete", table=name or "", where=any(t.is_word("WHERE") for t in rest))
    if first == "PRAGMA":
        name, rest = qualified_name(toks[1:])
        value = None
        if len(rest) >= 2 and rest[0].text in ("=", "("):
            value = rest[1].name if rest[1].text not in ("-", "+") else rest[1].text + rest[2].name
        return Shape("pragma", name=(name or "").lower(), value=value)
    return OTHER


def _create(toks: list[Token]) -> Shape:
    rest = toks[1:]
    unique = bool(rest) and rest[0].is_word("UNIQUE")
    if unique:
        rest = rest[1:]
    if rest and rest[0].is_word("TEMP", "TEMPORARY"):
        rest = rest[1:]
    if not rest:
        return OTHER
    what = rest[0].text.upper() if rest[0].kind == "word" else ""
    rest = _skip_if(rest[1:], "NOT")
    name, rest = qualified_name(rest)
    if name is None:
        return OTHER
    if what == "TABLE":
        select = bool(rest) and rest[0].is_word("AS")
        return Shape("create_table", table=name, select=select)
    if what == "INDEX" and rest and rest[0].is_word("ON"):
        table, _ = qualified_name(rest[1:])
        return Shape("create_index", table=table or "", name=name, unique=unique)
    return OTHER


def _drop(toks: list[Token]) -> Shape:
    if len(toks) < 3 or not toks[1].is_word("TABLE", "INDEX"):
        return OTHER
    name, _ = qualified_name(_skip_if(toks[2:], "EXISTS"))
    if name is None:
        return OTHER
    if toks[1].is_word("TABLE"):
        return Shape("drop_table", table=name)
    return Shape("drop_index", name=name)


def _alter(toks: list[Token]) -> Shape:
    if len(toks) < 4 or not toks[1].is_word("TABLE"):
        return OTHER
    table, rest = qualified_name(toks[2:])
    if table is None or not rest or not rest[0].is_word(*_COLUMN_WORDS):
        return OTHER
    verb, rest = rest[0].text.upper(), rest[1:]
    if verb == "RENAME" and len(rest) >= 2 and rest[0].is_word("TO"):
        return Shape("rename_table", table=table, new_name=rest[1].name)
    has_column = bool(rest) and rest[0].is_word("COLUMN")
    if has_column:
        rest = rest[1:]
    if not rest or not is_name(rest[0]):
        return OTHER
    column = rest[0].name
    if verb == "RENAME" and len(rest) >= 3 and rest[1].is_word("TO"):
        return Shape("rename_column", table=table, column=column, new_name=rest[2].name)
    if verb == "ADD":
        return Shape("add_column", table=table, column=column)
    if verb == "DROP":
        return Shape("drop_column", table=table, column=column)
    if verb == "ALTER" and has_column and len(rest) >= 2 and rest[1].is_word("TO"):
        return Shape("alter_column", table=table, column=column)
    return OTHER


def _insert(sql: str) -> Shape:
    """``INSERT INTO t [(cols)] SELECT ... FROM src``: what a table rebuild's copy reads.

    (``shape_of`` has told a plain ``INSERT ... VALUES`` apart already.)"""
    toks = tokens(sql, limit=_COPY)
    rest = _skip_or(toks[1:]) if toks[0].is_word("INSERT") else toks[1:]
    if rest and rest[0].is_word("INTO"):
        rest = rest[1:]
    table, rest = qualified_name(rest)
    if table is None:
        return OTHER
    if rest and rest[0].is_word("AS"):
        rest = rest[2:]
    columns = None
    if rest and rest[0].text == "(":
        columns, depth = [], 0
        for i, token in enumerate(rest):
            depth += token.text == "("
            depth -= token.text == ")"
            if depth == 0:
                rest = rest[i + 1 :]
                break
            if depth == 1 and is_name(token):
                columns.append(token.name)
    select = bool(rest) and rest[0].is_word("SELECT", "WITH")
    if not select:
        return Shape("insert", table=table, columns=tuple(columns) if columns is not None else None)
    sources, coalesced = [], set()
    for i, token in enumerate(rest):
        if token.is_word("FROM", "JOIN") and i + 1 < len(rest):
            name, _ = qualified_name(rest[i + 1 :])
            if name:
                sources.append(name)
        coalesce = token.is_word("COALESCE", "IFNULL") and i + 2 < len(rest)
        if coalesce and rest[i + 1].text == "(" and is_name(rest[i + 2]):
            coalesced.add(rest[i + 2].name.lower())
    return Shape(
        "insert",
        table=table,
        select=True,
        sources=tuple(sources),
        columns=tuple(columns) if columns is not None else None,
        coalesced=frozenset(coalesced),
    )


def qualified_name(toks: list[Token]) -> tuple[str | None, list[Token]]:
    """``[schema .] name`` at the start of ``toks``: the name and the tokens after it."""
    if not toks or not is_name(toks[0]):
        return None, toks
    if len(toks) >= 3 and toks[1].text == "." and is_name(toks[2]):
        return toks[2].name, toks[3:]
    return toks[0].name, toks[1:]


def is_name(token: Token) -> bool:
    """Can name a table or column: a word, a quoted identifier, or (SQLite's quirk) a string."""
    return token.kind in ("word", "quoted", "string")


def _skip_if(toks: list[Token], last: str) -> list[Token]:
    """Skip ``IF [NOT] EXISTS`` (``last`` is the word before EXISTS: NOT or EXISTS itself)."""
    if toks and toks[0].is_word("IF"):
        for i, token in enumerate(toks[:3]):
            if token.is_word("EXISTS"):
                return toks[i + 1 :]
    return toks


def _skip_or(toks: list[Token]) -> list[Token]:
    """Skip ``OR REPLACE``/``OR IGNORE``... after INSERT or UPDATE."""
    if len(toks) >= 2 and toks[0].is_word("OR"):
        return toks[2:]
    return toks


def is_schema_change(sql: str) -> bool:
    """Can this statement change the schema (so a new snapshot is worth reading)?"""
    head = sql[:6].upper()
    return head.startswith(("CREATE", "DROP", "ALTER"))
