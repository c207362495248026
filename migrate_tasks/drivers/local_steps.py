"""A step made safe for a local connection before it runs: pure text work, no database.

The native ``libsql`` driver runs only the first of several statements in one
``execute`` (so a step holding two is refused here, where SQLite would say they end)
and binds Python ints outside 32 bits as REAL (2**53 + 1 loses digits: such parameters
are sent as text wrapped in ``CAST(? AS INTEGER)``); stdlib ``sqlite3`` wants numbered
and named placeholders bound by name. A module of its own so that these rewrites are
tested on plain strings, apart from the connection that ``drivers.local`` keeps.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from migrate_tasks.errors import StatementError
from migrate_tasks.sql.lexer import tokens

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
_NAMED = re.compile(r"[?:@$]\w")  # maybe a numbered or named placeholder (by_name)
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def prepare(
    index: int, sql: str, params: tuple[Any, ...], *, rewrite_ints: bool
) -> tuple[str, tuple[Any, ...]]:
    """Refuse empty or multi-statement steps; work around native 32-bit int binding."""
    if ";" not in sql:
        # Two statements need a ';' between them: without one (and with code, not a
        # comment, first) this is a single statement, so skip lexing it unless
        # an integer parameter needs it (a statement of ours and every parsed one).
        head = sql.lstrip()
        if (
            head
            and not head.startswith(("--", "/*"))
            and all(
                not isinstance(v, int) or isinstance(v, bool) or _I32_MIN <= v <= _I32_MAX
                for v in params
            )
        ):
            return sql, params
    placeholders, semicolons, last_code = _scan(sql)
    if last_code < 0:
        raise StatementError(index, "SQL string does not contain any statement", "SQL_NO_STATEMENT")
    for pos in semicolons:
        if last_code > pos and sqlite3.complete_statement(sql[: pos + 1]):
            raise StatementError(
                index,
                "SQL string contains more than one statement (split it into steps)",
                "SQL_MANY_STATEMENTS",
            )
    for i, v in enumerate(params):
        if isinstance(v, int) and not _I64_MIN <= v <= _I64_MAX:
            raise StatementError(
                index, f"bad parameter {i + 1}: {v} does not fit in 64 bits", "ARGS_INVALID"
            )
    big = {
        i + 1
        for i, v in enumerate(params)
        if isinstance(v, int) and not isinstance(v, bool) and not _I32_MIN <= v <= _I32_MAX
    }
    if not rewrite_ints or not big:
        return sql, params
    pieces, last = [], 0
    for start, end, number in placeholders:
        if number in big:
            pieces += [sql[last:start], f"CAST({sql[start:end]} AS INTEGER)"]
            last = end
    pieces.append(sql[last:])
    fixed = tuple(str(v) if i + 1 in big else v for i, v in enumerate(params))
    return "".join(pieces), fixed


def by_name(sql: str, params: tuple[Any, ...]) -> tuple[str, tuple[Any, ...] | dict[str, Any]]:
    """For stdlib ``sqlite3``: numbered (``?2``) and named (``:x``) placeholders bound by
    name. Python 3.12 deprecates binding them from a sequence and 3.14 refuses it; a
    mapping binds them the same way on every version. A bare ``?`` among them becomes
    the ``?N`` SQLite numbers it as (only statements with parameters: ours, never a
    migration's)."""
    if not params or not _NAMED.search(sql):
        return sql, params
    placeholders, _, _ = _scan(sql)
    if all(end - start == 1 for start, end, _ in placeholders):
        return sql, params  # only bare ?s: a sequence binds them
    pieces, last = [], 0
    for start, end, number in placeholders:
        if end - start == 1:
            pieces += [sql[last:start], f"?{number}"]
            last = end
    sql = "".join([*pieces, sql[last:]])
    bound = {}
    for start, end, number in _scan(sql)[0]:
        if number <= len(params):
            bound[sql[start + 1 : end]] = params[number - 1]
    return sql, bound


def _scan(sql: str) -> tuple[list[tuple[int, int, int]], list[int], int]:
    """Placeholders ``(start, end, number)`` numbered the way SQLite numbers them, the
    positions of ``;`` tokens, and where the last code (not a blank, comment or ``;``)
    starts, -1 if there is none. Text inside literals and comments is not code."""
    placeholders: list[tuple[int, int, int]] = []
    semicolons: list[int] = []
    names: dict[str, int] = {}
    highest, last_code, pos = 0, -1, 0
    for kind, text in tokens(sql, keep=True):
        end = pos + len(text)
        if kind == "op" and text == ";":
            semicolons.append(pos)
        elif kind not in ("space", "comment"):
            last_code = pos
        if kind == "param":
            if text[0] == "?":
                number = int(text[1:]) if len(text) > 1 else highest + 1
                highest = max(highest, number)
            else:
                number = names.setdefault(text, highest + 1)
                highest = max(highest, number)
            placeholders.append((pos, end, number))
        pos = end
    return placeholders, semicolons, last_code
