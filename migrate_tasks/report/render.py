"""Presentation only: tables, JSON and dry-run SQL. Nothing here touches a database."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from migrate_tasks.engine.plan import APPLIED

if TYPE_CHECKING:  # the engine (and what it imports) only where a task needs it
    from migrate_tasks.drivers.base import Step
    from migrate_tasks.engine.core import Result
    from migrate_tasks.engine.plan import Problem, StatusRow
    from migrate_tasks.fleet.runner import FleetResult
    from migrate_tasks.ops.schema import DumpOutcome
    from migrate_tasks.ops.verify import VerifyResult

JSON_SCHEMA_VERSION = 1
_INTEGER = re.compile(r"[+-]?[0-9]+")


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
    """tabulate's default ("simple") layout, byte for byte, without importing tabulate
    (30-70 ms for a 2,000-row status): a column whose values are all integers is
    right-aligned, every column is at least its header plus two wide, two spaces between
    columns, no trailing blanks. (Unlike tabulate, text that merely looks like a float,
    e.g. a name ``1_000``, stays text.)"""
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


def status_json(
    rows: Sequence[StatusRow],
    target: str,
    problems: Sequence[str] = (),
    *,
    replica: bool | None = False,
) -> str:
    doc: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "target": target,
        "replica": replica,
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
        elif kind == "each":
            out.write("-- transaction:false: each statement below commits on its own\n")
        for step in steps:
            out.write(render_step(step) + ";\n")
        if kind == "atomic":
            out.write("COMMIT;\n\n")
        elif kind == "each":
            out.write("\n")
    if not wrote:
        out.write("-- nothing to do\n")


def problems_text(problems: Sequence[Problem]) -> str:
    if not problems:
        return "ok: files and history agree"
    return "\n".join(f"{p.kind}: {p.message}" for p in problems)


def problems_json(problems: Sequence[Problem], target: str, warnings: Sequence[str] = ()) -> str:
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "target": target,
        "ok": not problems,
        "problems": [
            {"kind": p.kind, "version": p.version, "message": p.message} for p in problems
        ],
        "warnings": list(warnings),
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


# -- fleets (migrate_tasks.fleet.runner) ------------------------------------------------------------


def fleet_counts(results: Sequence[FleetResult]) -> dict[str, int]:
    counts = Counter(r.outcome for r in results)
    return {"total": len(results), **{k: counts.get(k, 0) for k in ("ok", "failed", "skipped")}}


def fleet_summary(results: Sequence[FleetResult], elapsed_s: float | None = None) -> str:
    c = fleet_counts(results)
    took = f" in {elapsed_s:.1f} s" if elapsed_s is not None else ""
    noun = "database" if c["total"] == 1 else "databases"
    return f"{c['total']} {noun}: {c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped{took}"


def fleet_table(results: Sequence[FleetResult]) -> str:
    """One row per database, then every failure's full message (they can span lines)."""
    if not results:
        return "no databases"
    from tabulate import tabulate

    rows = [
        (r.target, r.outcome, r.summary, f"{r.duration_ms:.0f}", _first_line(r.error))
        for r in results
    ]
    text = tabulate(rows, headers=["database", "outcome", "summary", "ms", "error"])
    failures = [r for r in results if r.outcome == "failed" and r.error]
    if failures:
        text += "\n\n" + "\n\n".join(
            f"{r.target}:\n  " + (r.error or "").replace("\n", "\n  ") for r in failures
        )
    return text


def fleet_json(
    results: Sequence[FleetResult], operation: str, elapsed_s: float | None = None
) -> str:
    doc: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "operation": operation,
        "summary": fleet_counts(results),
        "duration_ms": None if elapsed_s is None else round(elapsed_s * 1000),
        "databases": [
            {
                "target": r.target,
                "namespace": r.namespace,
                "outcome": r.outcome,
                "summary": r.summary,
                "details": r.details,
                "error": r.error,
                "exit_code": r.exit_code,
                "duration_ms": round(r.duration_ms),
            }
            for r in results
        ],
    }
    return json.dumps(doc, indent=2)


def fleet_progress_line(done: int, failed: int, remaining: int) -> str:
    total = done + remaining
    return f"fleet: {done}/{total} done, {failed} failed, {remaining} remaining"


def fleet_progress_printer(stream: TextIO) -> Callable[[int, int, int], None]:
    """A ``run_fleet`` progress callback: one line rewritten in place on a terminal,
    nothing otherwise (CI logs get the table at the end)."""
    if not stream.isatty():
        return lambda done, failed, remaining: None

    def show(done: int, failed: int, remaining: int) -> None:
        stream.write("\r\x1b[K" + fleet_progress_line(done, failed, remaining))
        if remaining == 0:
            stream.write("\n")
        stream.flush()

    return show


def _first_line(text: str | None, limit: int = 80) -> str:
    line = (text or "").split("\n", 1)[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


# -- up/down --json, verify and dump (CI/CD) -------------------------------------------------


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def run_json(outcome: Any, target: str, *, dry_run: bool = False) -> str:
    """``up``/``down --json``: what ran, with durations (an Outcome without dry-run calls)."""
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "target": target,
        "direction": outcome.direction,
        "dry_run": dry_run,
        "ok": True,
        "migrations": _migrations(outcome.results),
        "total_ms": _ms(sum(r.duration_ms for r in outcome.results)),
        "warnings": list(outcome.warnings),
        "error": None,
    }
    return json.dumps(doc, indent=2)


def _migrations(results: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "version": r.version,
            "name": r.name,
            "statements": r.statements,
            "duration_ms": _ms(r.duration_ms),
        }
        for r in results
    ]


def run_failure_json(
    direction: str,
    target: str,
    completed: Sequence[Any] | None,
    exit_code: int,
    message: str,
    *,
    dry_run: bool = False,
) -> str:
    """``up``/``down --json`` when the run stopped: what completed before (the engine's
    results, carried by the error), and why it stopped. ``completed`` is None when that
    cannot be known (the connection failed)."""
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "target": target,
        "direction": direction,
        "dry_run": dry_run,
        "ok": False,
        "migrations": None if completed is None else _migrations(completed),
        "total_ms": None,
        "warnings": [],
        "error": {"exit_code": exit_code, "message": message},
    }
    return json.dumps(doc, indent=2)


def write_plan_json(outcome: Any, target: str, out: TextIO) -> None:
    """``--dry-run --json``: each planned migration with its own statements (not the
    tracking and lock SQL). Written as it goes, so a streamed migration is never held."""
    dumps = json.dumps
    out.write(
        "{\n"
        f'  "schema_version": {JSON_SCHEMA_VERSION},\n'
        f'  "target": {dumps(target)},\n'
        f'  "direction": {dumps(outcome.direction)},\n'
        '  "dry_run": true,\n'
        '  "ok": true,\n'
        f'  "warnings": {dumps(list(outcome.warnings))},\n'
        '  "error": null,\n'
        '  "total_ms": null,\n'
        '  "migrations": ['
    )
    for i, unit in enumerate(outcome.units):
        head = {
            "version": unit.version,
            "name": unit.name,
            "path": unit.path,
            "transaction": unit.transaction,
        }
        out.write(("," if i else "") + "\n    " + dumps(head)[:-1] + ', "statements": [')
        for j, stmt in enumerate(unit.statements()):
            item = dumps({"line": stmt.line, "sql": stmt.sql})
            out.write(("," if j else "") + "\n      " + item)
        out.write("\n    ]}")
    out.write("\n  ]\n}\n" if outcome.units else "]\n}\n")


def verify_text(result: VerifyResult) -> str:
    """One line per migration checked, the problem with its schema diff, a summary."""
    lines = []
    for m in result.migrations:
        if m.verified:
            lines.append(
                f"ok   {m.label}: up {m.up_ms:.0f} ms, down {m.down_ms:.0f} ms,"
                f" up again {m.reapply_ms:.0f} ms"
            )
    for p in result.problems:
        lines.append(f"FAIL {p.message}")
        if p.diff:
            lines.append(p.diff)
    where = "a temporary local database" if result.temporary else result.target
    verified = sum(m.verified for m in result.migrations)
    total = len(result.migrations)
    if not total:
        lines.append("no migrations to verify")
    elif result.ok:
        lines.append(
            f"verified {total} migration{'s' if total != 1 else ''} on {where} in"
            f" {result.duration_ms:.0f} ms: every down undoes its up, and every up applies"
            " again after its down"
        )
    else:
        lines.append(f"verified {verified} of {total} migrations on {where} before this problem")
    return "\n".join(lines)


def verify_json(result: VerifyResult) -> str:
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "target": result.target,
        "temporary": result.temporary,
        "ok": result.ok,
        "duration_ms": _ms(result.duration_ms),
        "migrations": [
            {
                "version": m.version,
                "name": m.name,
                "verified": m.verified,
                "up_ms": _ms(m.up_ms),
                "down_ms": _ms(m.down_ms),
                "reapply_ms": _ms(m.reapply_ms),
            }
            for m in result.migrations
        ],
        "problems": [
            {
                "kind": p.kind,
                "version": p.version,
                "name": p.name,
                "message": p.message,
                "diff": p.diff,
            }
            for p in result.problems
        ],
    }
    return json.dumps(doc, indent=2)


def dump_json(outcome: DumpOutcome, *, output: str, check: bool) -> str:
    """``dump --json``: where the schema went, whether it changed, and the diff."""
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "target": outcome.target,
        "output": output,
        "check": check,
        "up_to_date": outcome.up_to_date,
        "written": not check and not outcome.up_to_date,
        "objects": {k: outcome.objects.get(k, 0) for k in ("table", "index", "trigger", "view")},
        "applied": list(outcome.applied),
        "diff": outcome.diff,
    }
    return json.dumps(doc, indent=2)
