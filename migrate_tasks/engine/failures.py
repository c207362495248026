"""A failed step, told in the user's terms: which migration, file, line and statement,
or that another run changed the migration's state, or which added check found what.

The caller has already located the failing step in its batch (``engine.batch``): these
functions get the unit, the part's offset and what the database said.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Driver
from migrate_tasks.engine.tracking import TRANSITIONS, Actor, Ledger
from migrate_tasks.engine.units import Unit
from migrate_tasks.errors import MigrateError, MigrationFailed, MigrationFileError, StatementError
from migrate_tasks.progname import command

if TYPE_CHECKING:
    from migrate_tasks.engine.checks import Added, GuardedStatements
    from migrate_tasks.files.parser import Statement

log = logging.getLogger("migrate_tasks")


def conflict(unit: Unit) -> MigrationFailed:
    """The guarded tracking-row move found the row in another state: another run
    applied (or rolled back) this migration meanwhile, and nothing of it ran."""
    before = " or ".join(TRANSITIONS[unit.direction][0])
    state = "pending or " + before if unit.direction == "up" else before
    return MigrationFailed(
        unit.version, unit.path, None, None,
        f"another run changed this migration's state meanwhile (it is no longer {state});"
        f" nothing of it was run. See `{command('status')}`",
        direction=unit.direction,
    )  # fmt: skip


def statement_failed(
    unit: Unit,
    exc: StatementError,
    index: int,
    *,
    partial: bool,
    table: str,
    guarded: GuardedStatements | None = None,
) -> MigrationFailed:
    """Step ``index`` of the unit's statements failed (-1: one of the tracking steps
    around them). ``guarded``: the statements' steps had checks added, so map the step
    back to its statement, or to the check that failed."""
    if guarded is not None and index >= 0:  # step index -> statement index
        index, added = guarded.locate(index)
        if added is not None:
            return check_failed(unit, added, exc)
    stmt = statement_at(unit, index) if index >= 0 else None
    if stmt is not None:
        return MigrationFailed(
            unit.version, unit.path, stmt.line, stmt.sql, exc.message,
            direction=unit.direction, partial=partial,
        )  # fmt: skip
    if 0 <= index < unit.statement_count:  # a streamed file we could not read again
        return MigrationFailed(
            unit.version, unit.path, None, None,
            f"statement {index + 1}: {exc.message}", direction=unit.direction,
            partial=partial,
        )  # fmt: skip
    return MigrationFailed(
        unit.version, unit.path, None, None,
        f"writing the tracking table {table} failed: {exc.message}",
        direction=unit.direction,
    )  # fmt: skip


def check_failed(unit: Unit, added: Added, exc: StatementError) -> MigrationFailed:
    """One of the checks ``checks`` added found a problem; say which, and where."""
    from migrate_tasks.engine.checks import describe_failure

    message = describe_failure(added, exc.message)
    if added.statement is None:
        return MigrationFailed(
            unit.version, unit.path, unit.header_line, None, message, direction=unit.direction
        )
    return MigrationFailed(
        unit.version, unit.path, added.statement.line, added.statement.sql, message,
        direction=unit.direction, partial=not unit.transaction,
    )  # fmt: skip


def file_changed(unit: Unit, exc: MigrationFileError) -> MigrationFailed:
    """A streamed file changed (or broke) while it was being applied."""
    return MigrationFailed(
        unit.version, unit.path, exc.line, None, exc.reason, direction=unit.direction
    )


def statement_at(unit: Unit, index: int) -> Statement | None:
    """The index-th statement (a streamed file is read again, only after a failure)."""
    try:
        return next(itertools.islice(unit.statements(), index, None), None)
    except MigrationFileError:
        return None


def log_failure(
    driver: Driver,
    ledger: Ledger,
    actor: Actor,
    unit: Unit,
    started_at: str,
    elapsed: float,
    error: str,
) -> None:
    """Write the failure to the log table, on its own (the unit rolled back)."""
    try:
        driver.run_atomic(
            ledger.failure_steps(
                unit.version, unit.name, unit.direction, actor, started_at, round(elapsed), error
            )
        )
    except MigrateError as exc:  # the migration's own error is the one to report
        log.warning("could not write the failure to %s: %s", ledger.log_table, exc)
