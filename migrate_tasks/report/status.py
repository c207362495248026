"""Status, validation and run summaries as text: the tables and one-line summaries."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from migrate_tasks.engine.plan import APPLIED

if TYPE_CHECKING:  # the engine (and what it imports) only where a task needs it
    from migrate_tasks.engine.core import Result
    from migrate_tasks.engine.plan import Problem, StatusRow

_INTEGER = re.compile(r"[+-]?[0-9]+")


def status_counts(rows: Sequence[StatusRow]) -> dict[str, int]:
    """How many migrations are in each state, plus the total (for JSON and fleet details)."""
    counts = Counter(r.state for r in rows)
    return {"total": len(rows), **dict(sorted(counts.items()))}


def status_summary(rows: Sequence[StatusRow]) -> str:
    """``3 of 5 migrations applied (2 pending)``: the line under the table, and a fleet row."""
    counts = Counter(r.state for r in rows)
    line = f"{counts.get(APPLIED, 0)} of {len(rows)} migrations applied"
    others = [
        f"{n} {state.replace('_', ' ')}" for state, n in sorted(counts.items()) if state != APPLIED
    ]
    return line + (f" ({', '.join(others)})" if others else "")


def status_table(rows: Sequence[StatusRow]) -> str:
    """One line per migration: version, name, state, when applied, how long it took."""
    if not rows:
        return "no migrations"
    table = [
        (
            r.version,
            r.name,
            r.state,
            r.applied_at or "",
            "" if r.execution_ms is None else str(r.execution_ms),
        )
        for r in rows
    ]
    return simple_table(["version", "name", "state", "applied_at", "ms"], table)


def simple_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """tabulate's default ("simple") layout, byte for byte, without tabulate.

    Why a copy: ``status`` must print 2,000 rows well under 150 ms, and tabulate costs
    30-45 ms to import plus about 55 ms to lay out those rows (this: about 3 ms).
    tabulate still draws the fleet table, whose cells are free text (URLs, errors).
    tests/test_report_table.py holds the two to the same output. The layout: a column
    whose values are all integers is right-aligned, every column is at least its header
    plus two wide, two spaces between columns, no trailing blanks. (Unlike tabulate,
    text that merely looks like a float, e.g. a name ``1_000``, stays text.)
    """
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in headers]
    widths, right = [], []
    for header, values in zip(headers, columns, strict=True):
        filled = [v for v in values if v != ""]
        right.append(bool(filled) and all(_INTEGER.fullmatch(v) for v in filled))
        widths.append(max([len(header) + 2, *map(len, values)]))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def problems_text(problems: Sequence[Problem]) -> str:
    """``validate``: one line per problem, or the all-clear."""
    if not problems:
        return "ok: files and history agree"
    return "\n".join(f"{p.kind}: {p.message}" for p in problems)


def results_summary(results: Sequence[Result], direction: str) -> str:
    """``up``/``down``: how many migrations ran, and how long they took together."""
    if not results:
        return "nothing to apply" if direction == "up" else "nothing to roll back"
    verb = "applied" if direction == "up" else "rolled back"
    total = sum(r.duration_ms for r in results)
    noun = "migration" if len(results) == 1 else "migrations"
    return f"{verb} {len(results)} {noun} in {total:.0f} ms"
