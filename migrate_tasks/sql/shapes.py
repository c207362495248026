"""Keyword-level reading of one SQL statement: what it does to the schema, nothing more.

Pure. Not a parser: it takes the first few tokens of a statement from the lexer
(``lexer.py``, so comments, strings and quoted names are read the way SQLite reads
them) and matches a few fixed statement shapes on them. So a ``DROP TABLE`` inside a
string, a comment or a trigger body never counts, and ``DROP TABLE IF EXISTS
"main"."my table"`` yields the table ``my table``.

Used by the engine's refusals (statements sqld refuses) and checks (foreign keys and
``ALTER COLUMN``), the file parser (transaction control) and the Alembic converter. Only
the first few tokens of a statement are ever lexed, so a 100 MB ``INSERT`` costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate_tasks.sql.lexer import Token, tokens

#: Tokens lexed per statement: enough for every shape below.
_MAX_TOKENS = 16


@dataclass(frozen=True)
class SchemaChange:
    """A statement that drops, renames or alters a table (names as written, unquoted).

    ``kind``: ``drop_table`` (``table``), ``rename_table`` (``table`` -> ``new_name``),
    or ``alter_column`` (libSQL's ``ALTER TABLE table ALTER COLUMN column TO ...``).
    """

    kind: str
    table: str
    new_name: str | None = None
    column: str | None = None


def schema_change(sql: str) -> SchemaChange | None:
    """The table-level schema change ``sql`` makes, if it is one we follow."""
    toks = tokens(sql, limit=_MAX_TOKENS)
    if len(toks) < 3:
        return None
    if toks[0].is_word("DROP") and toks[1].is_word("TABLE"):
        rest = toks[2:]
        if len(rest) >= 2 and rest[0].is_word("IF") and rest[1].is_word("EXISTS"):
            rest = rest[2:]
        table, _ = _qualified_name(rest)
        return SchemaChange("drop_table", table) if table is not None else None
    if toks[0].is_word("ALTER") and toks[1].is_word("TABLE"):
        table, rest = _qualified_name(toks[2:])
        if table is None or not rest:
            return None
        if rest[0].is_word("RENAME") and len(rest) >= 3 and rest[1].is_word("TO"):
            return SchemaChange("rename_table", table, new_name=rest[2].name)
        if (  # libSQL: ALTER TABLE t ALTER COLUMN c TO c <new definition>; COLUMN is required
            len(rest) >= 4
            and rest[0].is_word("ALTER")
            and rest[1].is_word("COLUMN")
            and _is_name(rest[2])
            and rest[3].is_word("TO")
        ):
            return SchemaChange("alter_column", table, column=rest[2].name)
    return None


def _qualified_name(toks: list[Token]) -> tuple[str | None, list[Token]]:
    """``[schema .] name`` at the start of ``toks``: the name and the tokens after it."""
    if not toks or not _is_name(toks[0]):
        return None, toks
    if len(toks) >= 3 and toks[1].text == "." and _is_name(toks[2]):
        return toks[2].name, toks[3:]
    return toks[0].name, toks[1:]


def _value(token: Token) -> str:
    """A word upper-cased, a quoted name or string unquoted, anything else as written."""
    return token.text.upper() if token.kind == "word" else token.name


def _is_name(token: Token) -> bool:
    """Can name a table: a word, a quoted identifier, or (SQLite's quirk) a string."""
    return token.kind in ("word", "quoted", "string")


@dataclass(frozen=True)
class Pragma:
    """``PRAGMA [schema.]name [= value | (value)]``; ``name`` lower-cased."""

    name: str
    value: str | None


def pragma(sql: str) -> Pragma | None:
    """The PRAGMA ``sql`` runs, or None if it is not a PRAGMA statement."""
    toks = tokens(sql, limit=_MAX_TOKENS)
    if not toks or not toks[0].is_word("PRAGMA"):
        return None
    name, rest = _qualified_name(toks[1:])
    if name is None:
        return None
    value = None
    if len(rest) >= 2 and rest[0].text in ("=", "("):
        sign = rest[1].text if rest[1].text in ("-", "+") and len(rest) >= 3 else ""
        value = sign + _value(rest[2 if sign else 1])
    return Pragma(name.lower(), value)


def leading_words(sql: str, count: int = 3) -> list[str]:
    """The first ``count`` words of ``sql``, upper-cased, comments skipped; the list stops
    at the first token that is not a bare word (``(``, a string, a quoted name)."""
    words = []
    for token in tokens(sql, limit=count):
        if token.kind != "word":
            break
        words.append(token.text.upper())
    return words
