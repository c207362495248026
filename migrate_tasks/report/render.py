"""SQL for display: a step's ``?`` parameters inlined as SQL literals (dry runs, previews).

The other presentation modules: ``status`` (tables and summaries), ``documents`` (every
JSON document), ``dryrun`` (dry-run SQL and the JSON plan), ``fleet``, ``verify``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate_tasks.drivers.base import Step


def render_step(step: Step) -> str:
    """Inline ``?`` parameters as SQL literals, for display only (our ledger SQL has no '?' in strings)."""
    sql = step.sql.rstrip().rstrip(";")
    if not step.params:
        return sql
    parts = sql.split("?")
    if len(parts) - 1 != len(step.params):
        return sql + "  -- params: " + ", ".join(map(sql_literal, step.params))
    out = [parts[0]]
    for value, tail in zip(step.params, parts[1:], strict=True):
        out.append(sql_literal(value))
        out.append(tail)
    return "".join(out)


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    return "'" + str(value).replace("'", "''") + "'"
