"""One SQL statement in canonical form: for ``dump`` (schema.sql), ``verify`` and
``generate``, which compare schemas, not typing habits.

SQLite keeps each object's ``CREATE`` statement as written (or as rewritten by ``ALTER
TABLE``), so the same schema reached by two paths can differ in whitespace, comments,
keyword case and identifier quoting: ``ALTER TABLE x RENAME TO users`` stores
``CREATE TABLE "users"``, and a down section that rebuilds a table types its own text.
One normaliser (:func:`normalise_sql`) turns every statement into one canonical form, so
``dump`` output only changes when the schema does, and comparisons
(``ops/schemadiff.py``) see schemas, not typing habits. Canonical form:

- comments dropped, tokens separated by single spaces (none inside ``f(x)``, ``a.b``,
  before ``,`` ``;`` ``)``), SQLite keywords upper-case where they are keywords (most
  of them are names elsewhere: ``CREATE TABLE groups (action TEXT)`` keeps ``groups``
  and ``action`` as written; ``keywords.py`` tells them apart);
- names keep their spelling; quoted ones (``"x"``, ``[x]``, `` `x` ``) are unquoted when
  the bare word means the same thing (a plain identifier, not a keyword, TRUE or FALSE;
  libSQL refuses double-quoted strings, so ``"x"`` is always a name); ``fold_case``
  (comparisons of expressions only: SQLite resolves names case-insensitively) also
  lower-cases them;
- string and blob literals and numbers kept as written (a blob's hex digits lower-case);
- a ``CREATE TABLE`` body one column or constraint per line, a trigger body one
  statement per line, so a diff shows the column that changed.

Canonical tokens are lexer :class:`~migrate_tasks.sql.lexer.Token` values with the kinds
``keyword``, ``ident``, ``literal`` (strings, blobs, numbers, parameters) and ``op``.
Pure: reading a database's schema is ``ops/schema.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from migrate_tasks.sql.keywords import KEYWORDS, keyword_flags
from migrate_tasks.sql.lexer import NAME_NEXT, NAME_START, Token, tokens, unquote

__all__ = [
    "Token",
    "canonical_tokens",
    "fold_name",
    "join_tokens",
    "matching",
    "normalise_sql",
    "quote_name",
    "split_top",
]

_PLAIN = re.compile(rf"{NAME_START}{NAME_NEXT}*\Z")  # a name that needs no quotes
#: Quoted names that must stay quoted: keywords, and TRUE/FALSE (bare, they are values).
_NEVER_BARE = KEYWORDS | {"TRUE", "FALSE"}
#: Keywords that end a value, so a following sign is binary (``NULL - 1`` is silly but valid).
_VALUE_KEYWORDS = frozenset({"NULL", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "END"})
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def canonical_tokens(sql: str, *, fold_case: bool = False) -> list[Token]:
    """Canonical tokens of ``sql``: no whitespace or comments, keywords upper-case,
    identifiers unquoted where that is safe and otherwise spelled as written. With
    ``fold_case`` (for comparisons only, never for SQL that is written anywhere)
    identifiers are lower-cased, and a name that is also a keyword is always quoted, so
    ``groups`` and ``"groups"`` compare equal."""
    lexed = tokens(sql)
    out: list[Token] = []
    for (kind, text), keyword in zip(lexed, keyword_flags(lexed), strict=True):
        if kind == "word":
            if keyword:
                out.append(Token("keyword", text.upper()))
            else:
                out.append(Token("ident", quote_name(fold_name(text)) if fold_case else text))
        elif kind == "quoted":
            out.append(Token("ident", _identifier(text, fold_case)))
        elif kind == "blob":
            out.append(Token("literal", "X'" + text[2:-1].lower() + "'"))
        elif kind == "op":
            out.append(Token("op", text))
        else:
            out.append(Token("literal", text))
    return out


@functools.lru_cache(maxsize=4096)
def normalise_sql(sql: str, *, fold_case: bool = False) -> str:
    """One statement (a ``sqlite_schema.sql`` value) in canonical form, without ``;``.
    Cached: ``verify`` reads the same statements back after every step."""
    toks = canonical_tokens(sql, fold_case=fold_case)
    while toks and toks[-1].text == ";":
        toks.pop()
    words = [t.text for t in toks[:3] if t.kind == "keyword"]
    if words[:2] == ["CREATE", "TABLE"] or words == ["CREATE", "TEMP", "TABLE"]:
        return _pretty_table(toks)
    if words[:1] == ["CREATE"] and "TRIGGER" in words:
        return _pretty_trigger(toks)
    return join_tokens(toks)


def join_tokens(toks: Sequence[Token]) -> str:
    """Tokens on one line with canonical spacing."""
    parts: list[str] = []
    for i, tok in enumerate(toks):
        if i and _space_between(toks[i - 2] if i > 1 else None, toks[i - 1], tok):
            parts.append(" ")
        parts.append(tok.text)
    return "".join(parts)


def _space_between(before: Token | None, prev: Token, tok: Token) -> bool:
    if tok.text in (",", ")", ";", ".") or prev.text in ("(", "."):
        return False
    if tok.text == "(":
        return prev.kind != "ident"  # f(x), users(id), VARCHAR(10); but IN (...), KEY (...)
    if prev.text in ("-", "+", "~") and prev.kind == "op":
        return not _unary_position(before)  # DEFAULT -1, (-x), a - 1
    return True


def _unary_position(before: Token | None) -> bool:
    """Does a sign after ``before`` apply to what follows (``-1``) rather than subtract?"""
    if before is None:
        return True
    if before.kind == "op":
        return before.text != ")"
    return before.kind == "keyword" and before.text not in _VALUE_KEYWORDS


def _identifier(quoted: str, fold_case: bool) -> str:
    inner = unquote(quoted)
    return quote_name(fold_name(inner) if fold_case else inner)


def quote_name(name: str) -> str:
    """``name`` bare when the bare word means the same thing everywhere, else quoted."""
    if _PLAIN.match(name) and name.upper() not in _NEVER_BARE:
        return name
    return '"' + name.replace('"', '""') + '"'


def fold_name(name: str) -> str:
    """SQLite folds only ASCII letters when it compares identifiers."""
    return name.translate(_ASCII_LOWER)


def split_top(toks: Sequence[Token], separator: str) -> list[list[Token]]:
    """Split at ``separator`` tokens outside parentheses."""
    groups: list[list[Token]] = [[]]
    depth = 0
    for tok in toks:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if tok.text == separator and depth == 0:
            groups.append([])
        else:
            groups[-1].append(tok)
    return groups


def _pretty_table(toks: list[Token]) -> str:
    """``CREATE TABLE name (`` then one column or constraint per line, ``)`` and options."""
    depth = 0
    for i, tok in enumerate(toks):
        if tok.text == "AS" and depth == 0:
            break  # CREATE TABLE ... AS SELECT: no column list to lay out
        if tok.text == "(":
            if depth == 0:
                close = matching(toks, i)
                if close is None:
                    break
                head = join_tokens(toks[:i])
                body = ",\n  ".join(join_tokens(g) for g in split_top(toks[i + 1 : close], ","))
                tail = join_tokens(toks[close + 1 :])
                return f"{head} (\n  {body}\n)" + (f" {tail}" if tail else "")
            depth += 1
        elif tok.text == ")":
            depth -= 1
    return join_tokens(toks)


def _pretty_trigger(toks: list[Token]) -> str:
    """The trigger's head, then ``BEGIN``, one body statement per line, ``END``."""
    begin = next((i for i, t in enumerate(toks) if t.kind == "keyword" and t.text == "BEGIN"), None)
    if begin is None or not toks or toks[-1].text != "END":
        return join_tokens(toks)
    statements = [g for g in split_top(toks[begin + 1 : -1], ";") if g]
    body = "".join(f"  {join_tokens(s)};\n" for s in statements)
    return f"{join_tokens(toks[:begin])}\nBEGIN\n{body}END"


def matching(toks: Sequence[Token], open_index: int) -> int | None:
    """The index of the ``)`` that closes the ``(`` at ``open_index`` (None: unclosed)."""
    depth = 0
    for j in range(open_index, len(toks)):
        if toks[j].text == "(":
            depth += 1
        elif toks[j].text == ")":
            depth -= 1
            if depth == 0:
                return j
    return None
