"""Python values as SQL literals, and statements with their parameters written in.

Pure. For text a person or SQLite reads later: the dry-run script (``--dry-run``
prints the exact statements a run would send, parameters inlined) and the migration
files ``import-alembic`` writes from what SQLAlchemy sent. Never used to build SQL that
the tool runs: values reach the database as bound parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from migrate_tasks.sql.lexer import Token, tokens

__all__ = ["inline_params", "render_step", "sql_literal"]


def sql_literal(value: Any) -> str:
    """``value`` as a literal SQLite reads back as the same value (as far as SQLite can
    hold it: NaN becomes NULL, as SQLite stores it; infinities overflow to 9e999)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if value != value:
            return "NULL"
        if value in (float("inf"), float("-inf")):
            return "9e999" if value > 0 else "-9e999"
        return _real(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"
    text = str(value)
    if "\x00" in text:
        return f"CAST(X'{text.encode('utf-8').hex()}' AS TEXT)"  # a file cannot hold NUL
    return "'" + text.replace("'", "''") + "'"


#: 2**62: a power of two SQLite reads exactly as an integer, used to scale by.
_STEP = 62


@functools.lru_cache(maxsize=4096)
def _real(value: float) -> str:
    """A REAL literal SQLite reads back as exactly ``value``.

    SQLite's text-to-float conversion is not correctly rounded: about 1 double in 5,000
    comes back one unit in the last place off from its shortest ``repr`` (measured on
    libSQL 3.45.1 and SQLite 3.40.1, which differ on which ones). Such a value is written
    as its exact binary form instead, an odd integer scaled by powers of two
    (``(5.0 / 4611686018427387904 / 8)``), which SQLite computes without rounding."""
    text = repr(value)
    if _reads_back(text, value):
        return text
    numerator, denominator = value.as_integer_ratio()
    exponent = 0
    while numerator % 2 == 0 and numerator:
        numerator //= 2
        exponent += 1
    while denominator > 1:
        denominator //= 2
        exponent -= 1
    operator = " * " if exponent > 0 else " / "
    steps = [str(2**_STEP)] * (abs(exponent) // _STEP)
    if abs(exponent) % _STEP:
        steps.append(str(2 ** (abs(exponent) % _STEP)))
    return "(" + f"{numerator}.0" + "".join(operator + s for s in steps) + ")"


def _reads_back(literal: str, value: float) -> bool:
    """Whether the SQLite engines at hand (libSQL's, and the standard library's fallback)
    both read ``literal`` as ``value``."""
    return all(read(literal) == value for read in _engines())


@functools.cache
def _engines() -> tuple[Any, ...]:
    import sqlite3

    connections: list[Any] = [sqlite3.connect(":memory:", check_same_thread=False)]
    try:
        import libsql

        connections.append(libsql.connect(":memory:", _check_same_thread=False))
    except Exception:  # no native wheel for this platform: the fallback is what runs
        pass
    return tuple(lambda text, c=c: c.execute(f"SELECT {text}").fetchone()[0] for c in connections)


def inline_params(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> str:
    """``sql`` with its bound parameters written in as literals, so it stands alone.

    ``?`` and ``?NNN`` take values from a sequence, ``:name`` from a mapping; a
    parameter without a value is left as written, and so is text that only looks like
    one (inside a string, a quoted name or a comment: the lexer tells them apart).
    """
    if not params:
        return sql
    named = isinstance(params, Mapping)
    position = iter(range(len(params)))
    return "".join(
        _bound(token, params, named, position) if token.kind == "param" else token.text
        for token in tokens(sql, keep=True)
    )


def _bound(
    token: Token, params: Sequence[Any] | Mapping[str, Any], named: bool, position: Iterator[int]
) -> str:
    text = token.text
    if named:
        if text[0] == ":" and text[1:] in params:
            return sql_literal(params[text[1:]])  # type: ignore[index]
        return text
    if text[0] != "?":
        return text
    index = int(text[1:]) - 1 if len(text) > 1 else next(position)
    return sql_literal(params[index])  # type: ignore[index]


def render_step(sql: str, params: Sequence[Any] = ()) -> str:
    """One step of a run as the dry-run script shows it: without its final ``;``, its
    ``?`` parameters inlined (or listed in a trailing comment if they do not match)."""
    sql = sql.rstrip().rstrip(";")
    if not params:
        return sql
    marks = sum(1 for t in tokens(sql) if t.kind == "param" and t.text[0] == "?")
    if marks != len(params):
        return sql + "  -- params: " + ", ".join(map(sql_literal, params))
    return inline_params(sql, params)
