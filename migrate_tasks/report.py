"""Presentation only: tables, JSON and dry-run SQL. Nothing here touches a database."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from .drivers.base import Step
from .engine import Result
from .plan import APPLIED, Problem, StatusRow

JSON_SCHEMA_VERSION = 1


def status_counts(rows: Sequence[StatusRow]) -> dict[str, int]:
    counts = Counter(r.state for r in rows)
    return {"total": len(rows), **dict(sorted(counts.items()))}


def status_summary(rows: Sequence[StatusRow]) -> str:
    counts = Counter(r.state for r in rows)
    line = f"{counts.get(APPLIED, 0)} of {len(rows)} migrations applied"
    others = [
        f"{n} {state.replace('_', ' ')}" for state, n in sorted(counts.items()) if state != APPLIED
    ]
    return line + (f" ({', '.join(others)})" if others else "")


def status_table(rows: Sequence[StatusRow]) -> str:
    if not rows:
        return "no migrations"
    from tabulate import tabulate  # only the status table needs it

    table = [
        (
            r.version,
            r.name,
            r.state,
            r.applied_at or "",
            "" if r.execution_ms is None else r.execution_ms,
        )
        for r in rows
    ]
    return tabulate(table, headers=["version", "name", "state", "applied_at", "ms"])


def status_json(rows: Sequence[StatusRow], target: str, problems: Sequence[str] = ()) -> str:
    doc: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "target": target,
        "migrations": [
            {
                "version": r.version,
                "name": r.name,
                "state": r.state,
                "applied_at": r.applied_at,
                "rolled_back_at": r.rolled_back_at,
                "execution_ms": r.execution_ms,
            }
            for r in rows
        ],
        "summary": status_counts(rows),
        "problems": list(problems),
    }
    return json.dumps(doc, indent=2)


def results_summary(results: Sequence[Result], direction: str) -> str:
    if not results:
        return "nothing to apply" if direction == "up" else "nothing to roll back"
    verb = "applied" if direction == "up" else "rolled back"
    total = sum(r.duration_ms for r in results)
    noun = "migration" if len(results) == 1 else "migrations"
    return f"{verb} {len(results)} {noun} in {total:.0f} ms"


def write_calls(calls: Iterable[tuple[str, Iterable[Step]]], out: TextIO) -> None:
    """Write the exact statements a real run would send, in order, parameters inlined.

    Steps are consumed as they are written, so a streamed 200 MB migration is never held.
    """
    wrote = False
    for kind, steps in calls:
        wrote = True
        if kind == "atomic":
            out.write("BEGIN;\n")
        else:
            out.write("-- transaction:false: each statement below commits on its own\n")
        for step in steps:
            out.write(render_step(step) + ";\n")
        out.write("COMMIT;\n\n" if kind == "atomic" else "\n")
    if not wrote:
        out.write("-- nothing to do\n")


def problems_text(problems: Sequence[Problem]) -> str:
    if not problems:
        return "ok: files and history agree"
    return "\n".join(f"{p.kind}: {p.message}" for p in problems)


def problems_json(problems: Sequence[Problem], target: str) -> str:
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "target": target,
        "ok": not problems,
        "problems": [
            {"kind": p.kind, "version": p.version, "message": p.message} for p in problems
        ],
    }
    return json.dumps(doc, indent=2)


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
