"""What ``up`` or ``down`` would run, given the files and a history: the pure planner
(``plan``) after refusing every state that makes running unsafe.

Planning happens twice per run: on the history read first, then again under the lock
on the history read from the primary (someone may have migrated while we waited).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from migrate_tasks.engine.catalogue import MigrationSet
from migrate_tasks.engine.plan import (
    APPLIED,
    FAILED,
    OUT_OF_ORDER,
    Plan,
    StatusRow,
    plan_down,
    plan_up,
    state_problems,
    status_rows,
)
from migrate_tasks.engine.tracking import Record
from migrate_tasks.errors import CheckFailed


@dataclass(frozen=True)
class Request:
    """What ``Engine.migrate`` was asked to do."""

    direction: str
    step: int | None = None
    to: str | None = None
    all_: bool = False
    allow_out_of_order: bool = False
    single: bool = False


def plan_for(migrations: MigrationSet, request: Request, records: Mapping[str, Record]) -> Plan:
    """The plan for ``request`` against ``records``; raises what makes running unsafe."""
    rows = checked_rows(migrations, request.direction, request.allow_out_of_order, records)
    if request.direction == "up":
        return plan_up(rows, step=request.step, to=request.to)
    return plan_down(rows, step=request.step, to=request.to, all_=request.all_)


def checked_rows(
    migrations: MigrationSet,
    direction: str,
    allow_out_of_order: bool,
    records: Mapping[str, Record],
) -> list[StatusRow]:
    """Status rows, after refusing on any problem that makes running unsafe: for up,
    first every file that does not parse (exit 2). A file applied with the checksum
    it has now is not parsed again: it parsed when it was applied (``repair``
    records only files that parse), and up never runs it."""
    infos = migrations.file_infos()
    if direction == "up":
        current = {f.version: f.checksum for f in infos}
        settled = [
            v for v, r in records.items() if r.status == APPLIED and current.get(v) == r.checksum
        ]
        errors = migrations.file_errors(skip=settled)
        if errors:
            raise errors[0]
    rows = status_rows(infos, records)
    problems = state_problems(rows)
    if direction == "up":
        blocking = [p for p in problems if not (allow_out_of_order and p.kind == OUT_OF_ORDER)]
    else:
        blocking = [p for p in problems if p.kind == FAILED]
    if blocking:
        raise CheckFailed(
            f"refusing to migrate {direction}: " + "; ".join(p.message for p in blocking)
        )
    return rows
