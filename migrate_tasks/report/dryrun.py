"""``--dry-run``: the exact statements a real run would send, as SQL or as a JSON plan.

Both are written as they go: a streamed 200 MB migration is never held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from migrate_tasks.report.documents import JSON_SCHEMA_VERSION

if TYPE_CHECKING:
    from migrate_tasks.drivers.base import Step
    from migrate_tasks.engine.core import Outcome


def write_calls(calls: Iterable[tuple[str, Iterable[Step]]], out: TextIO) -> None:
    """Write the exact statements a real run would send, in order, parameters inlined.

    Steps are consumed as they are written, so a streamed 200 MB migration is never held.
    """
    # imported here: every task module imports this one, and only --dry-run renders
    from migrate_tasks.sql.literals import render_step

    wrote = False
    for kind, steps in calls:
        wrote = True
        if kind == "atomic":
            out.write("BEGIN;\n")
        elif kind == "each":
            out.write("-- transaction:false: each statement below commits on its own\n")
        for step in steps:
            out.write(render_step(step.sql, step.params) + ";\n")
        if kind == "atomic":
            out.write("COMMIT;\n\n")
        elif kind == "each":
            out.write("\n")
    if not wrote:
        out.write("-- nothing to do\n")


def write_plan_json(outcome: Outcome, target: str, out: TextIO) -> None:
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
