"""SQL text as generate compares and writes it: canonical forms, and identifiers.

Expressions (checks, defaults, index definitions) are compared in the normaliser's
canonical form (``sql/normalise.py``) with identifiers case-folded, so two spellings of
one expression are one; names are written bare when that is safe, quoted otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from migrate_tasks.sql.keywords import KEYWORDS
from migrate_tasks.sql.lexer import Token, unquote
from migrate_tasks.sql.normalise import canonical_tokens, join_tokens, matching, normalise_sql

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
