"""Keyword-level reading of one SQL statement: what it does to the schema, nothing more.

Pure. Not a parser: it lexes the start of a statement the way SQLite does (whitespace,
``--`` and ``/* */`` comments, ``'strings'``, ``"quoted"``, ```quoted```, ``[quoted]``
identifiers, words) and matches a few fixed statement shapes on those tokens. So a
``DROP TABLE`` inside a string, a comment or a trigger body never counts, and
``DROP TABLE IF EXISTS "main"."my table"`` yields the table ``my table``.

Used by ``compat`` (statements sqld refuses) and ``guards`` (foreign keys and
``ALTER COLUMN``). Only the first few tokens of a statement are ever lexed, so a
100 MB ``INSERT`` costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# One token per match; the alternatives are tried in order. Unterminated quotes and
# comments run to the end (the statement splitter has refused those already).
_LEX = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^']|'')*(?:'|\Z))
    | (?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
    | (?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)
    | (?P<number>[0-9][0-9A-Za-z_.]*)
    | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)
#: Tokens lexed per statement: enough for every shape below.
_MAX_TOKENS = 16


@dataclass(frozen=True)
class Token:
    """``kind``: word, quoted, string, number or punct; ``value``: a word upper-cased,
    a quoted identifier or string without its quotes, else the text; ``name``: the
    same, with a word's case as written (for identifiers)."""

    kind: str
    value: str
    name: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.value in words

    @property
    def is_name(self) -> bool:
        """Can name a table: a word, a quoted identifier, or (SQLite's quirk) a string."""
        return self.kind in ("word", "quoted", "string")


def tokens(sql: str, limit: int = _MAX_TOKENS) -> list[Token]:
    """The first ``limit`` tokens of ``sql``, comments and whitespace skipped."""
    found: list[Token] = []
    for match in _LEX.finditer(sql):
        kind = match.lastgroup
        if kind in ("space", "comment"):
            continue
        text = match.group()
        name = _unquote(text) if kind in ("quoted", "string") else text
        found.append(Token(str(kind), name.upper() if kind == "word" else name, name))
        if len(found) >= limit:
            break
    return found


def _unquote(text: str) -> str:
    opener = text[0]
    closer = "]" if opener == "[" else opener
    body = text[1:-1] if len(text) > 1 and text.endswith(closer) else text[1:]
    return body if opener == "[" else body.replace(closer * 2, closer)


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
    toks = tokens(sql)
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
            and rest[2].is_name
            and rest[3].is_word("TO")
        ):
            return SchemaChange("alter_column", table, column=rest[2].name)
    return None


def _qualified_name(toks: list[Token]) -> tuple[str | None, list[Token]]:
    """``[schema .] name`` at the start of ``toks``: the name and the tokens after it."""
    if not toks or not toks[0].is_name:
        return None, toks
    if len(toks) >= 3 and toks[1].value == "." and toks[2].is_name:
        return toks[2].name, toks[3:]
    return toks[0].name, toks[1:]


@dataclass(frozen=True)
class Pragma:
    """``PRAGMA [schema.]name [= value | (value)]``; ``name`` lower-cased."""

    name: str
    value: str | None


def pragma(sql: str) -> Pragma | None:
    """The PRAGMA ``sql`` runs, or None if it is not a PRAGMA statement."""
    toks = tokens(sql)
    if not toks or not toks[0].is_word("PRAGMA"):
        return None
    name, rest = _qualified_name(toks[1:])
    if name is None:
        return None
    value = None
    if len(rest) >= 2 and rest[0].value in ("=", "("):
        sign = rest[1].value if rest[1].value in ("-", "+") and len(rest) >= 3 else ""
        value = sign + rest[2 if sign else 1].value
    return Pragma(name.lower(), value)


def leading_words(sql: str, count: int = 3) -> list[str]:
    """The first ``count`` tokens' values (words upper-cased), e.g. ``["CREATE", "TEMP"]``."""
    return [t.value for t in tokens(sql, count)]
