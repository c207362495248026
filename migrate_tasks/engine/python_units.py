"""Runs a migration written in Python (``files.python_source``): ``up(db)`` or
``down(db)`` inside ONE interactive transaction (``Driver.interactive_transaction``)
that also holds the lease renewal, the log row, the guarded tracking-row move and the
closing rows, so the migration and its record commit together or not at all, as a
``.sql`` unit does in one batch (``runner``).

A Python unit cannot be sent as one batch: what it runs next depends on what it has
read. So it costs a round trip per ``db`` call (``executemany`` sends many rows per
round trip), and on sqld its transaction stays open while ``up`` runs: sqld ends a
write transaction older than 5 s once another writer waits (``TRANSACTION_TIMEOUT``),
and an HTTP stream idle for 10 s (``STREAM_EXPIRED``). Either is told as one message
naming the migration and what to do; nothing of it remains.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Driver, Row, Step, Transaction
from migrate_tasks.drivers.hrana import INTERRUPTED_CODES
from migrate_tasks.engine.batch import Batch, Name
from migrate_tasks.engine.failures import conflict, log_failure, statement_failed
from migrate_tasks.engine.python_db import Failure, MigrationDatabase
from migrate_tasks.engine.tracking import GUARD
from migrate_tasks.engine.units import Result, Unit
from migrate_tasks.errors import (
    ConnectionFailed,
    DatabaseError,
    LocatedError,
    MigrateError,
    MigrationFailed,
    StatementError,
    UsageError,
)
from migrate_tasks.files.python_source import describe, function, user_code_path, user_line

if TYPE_CHECKING:
    from migrate_tasks.engine.lock import MigrationLock
    from migrate_tasks.engine.runner import Runner

log = logging.getLogger("migrate_tasks")


def preview_steps(unit: Unit) -> list[Step]:
    """What ``--dry-run`` shows where the statements of a Python unit go."""
    return [
        Step(
            f"-- {unit.path}: {unit.direction}(db) runs here, in this transaction (Python:"
            " its statements are known only when it runs)"
        )
    ]


def run_python(
    runner: Runner, unit: Unit, lock: MigrationLock | None, then: Sequence[Step] = ()
) -> tuple[Result, list[list[Row]], bool]:
    """``Runner.run`` for a Python unit: its result, the rows of ``then``, and whether
    the lease was still ours."""
    driver = runner.driver
    assert unit.file is not None and unit.python is not None
    if not driver.interactive_transactions:
        raise UsageError(
            f"{unit.path}: a Python migration needs a transaction kept open while it runs,"
            f" which {driver.display_url} cannot offer"
        )
    log.debug("%s %s (%s, Python)", _verb(unit), unit.label, unit.path)
    from migrate_tasks.engine.runner import utc_now

    started_wall, started = utc_now(), time.perf_counter()
    renew = lock.renew_step() if lock else None
    try:
        with user_code_path(), driver.interactive_transaction() as tx:
            parts = _open(runner, unit, tx, renew)
            db = MigrationDatabase(tx, unit.file, unit.path, runner.target)
            _call(unit, db)
            closing = Batch().add(
                "finish", runner.ledger.finish_steps(unit.version, unit.direction)
            )
            closing.add("then", then)
            parts.update(closing.split(_tracking(runner, unit, tx, closing)))
    except (MigrationFailed, DatabaseError) as exc:
        failed = exc if isinstance(exc, MigrationFailed) else _ended(unit, exc)
        elapsed = (time.perf_counter() - started) * 1000
        log_failure(
            driver, runner.ledger, runner.actor, unit, started_wall, elapsed, failed.db_message
        )
        if failed is exc:
            raise
        raise failed from None
    elapsed = (time.perf_counter() - started) * 1000
    log.info("%s %s in %.0f ms", "applied" if unit.direction == "up" else "rolled back",
             unit.label, elapsed)  # fmt: skip
    held = bool(parts["renew"][0]) if renew is not None else True
    result = Result(unit.version, unit.name, unit.direction, db.statements, elapsed)
    return result, parts.get("then", []), held


def _open(
    runner: Runner, unit: Unit, tx: Transaction, renew: Step | None
) -> dict[Name, list[list[Row]]]:
    """The lease renewal, the log row and the guarded tracking-row move, first thing in
    the transaction (one round trip)."""
    log_row, move = runner.ledger.begin_steps(
        unit.version, unit.name, unit.checksum, unit.direction, runner.actor
    )
    opening = Batch().add("renew", [renew] if renew else []).add("log", [log_row])
    opening.add("move", [move])
    steps = opening.steps()
    try:
        return opening.split(tx.run(steps))
    except StatementError as exc:
        if opening.locate(exc.index).part == "move" and GUARD in exc.message:
            raise conflict(unit) from None
        raise statement_failed(unit, exc, -1, partial=False, table=runner.ledger.table) from None


def _tracking(runner: Runner, unit: Unit, tx: Transaction, batch: Batch) -> list[list[Row]]:
    try:
        return tx.run(batch.steps())
    except StatementError as exc:
        raise statement_failed(unit, exc, -1, partial=False, table=runner.ledger.table) from None


def _call(unit: Unit, db: MigrationDatabase) -> None:
    """Call ``up(db)``/``down(db)``; whatever it raises becomes ours, at its line."""
    assert unit.python is not None
    fn = function(unit.python, unit.direction)
    assert fn is not None  # the catalogue checked it
    try:
        fn(db)
    except (ConnectionFailed, LocatedError):  # no connection, or a refused statement
        raise
    except (Exception, SystemExit) as exc:
        if db.failure is not None:
            raise _database_failure(unit, db.failure) from None
        raise MigrationFailed(
            unit.version, unit.path, user_line(exc, unit.file or unit.path), None,
            describe(exc), direction=unit.direction,
        ) from None  # fmt: skip
    if db.failure is not None:  # up() caught it and went on: still all or nothing
        raise _database_failure(unit, db.failure, caught=True)


def _database_failure(unit: Unit, failure: Failure, *, caught: bool = False) -> MigrateError:
    error = failure.error
    if isinstance(error, ConnectionFailed):
        return error
    if isinstance(error, DatabaseError) and error.code in INTERRUPTED_CODES:
        return _ended(unit, error)
    message = error.message if isinstance(error, DatabaseError) else str(error)
    if failure.row is not None:
        message = f"row {failure.row} of executemany: {message}"
    if caught:
        message += (
            f" ({unit.direction}(db) caught the error and went on, but a failed statement"
            " fails the whole migration; use SQL for conflicts, e.g. INSERT ... ON CONFLICT)"
        )
    return MigrationFailed(
        unit.version, unit.path, failure.line, failure.sql, message, direction=unit.direction
    )


def _ended(unit: Unit, exc: DatabaseError) -> MigrationFailed:
    """sqld ended the transaction (timeout, idle stream), or COMMIT failed."""
    if exc.code == "TRANSACTION_TIMEOUT":
        message = (
            "sqld rolled back its transaction: another writer waited while it was more than"
            " 5 s old (TRANSACTION_TIMEOUT). A Python migration's transaction stays open while"
            f" {unit.direction}(db) runs, a round trip per db call: write with"
            " db.executemany (1000 rows a round trip) or one INSERT ... SELECT / UPDATE"
            " instead of a statement per row, keep slow work (network calls, big"
            " computations) out of it, or run it when no other writer is active; on a"
            " namespace you can raise txn_timeout_s"
        )
    elif exc.code == "STREAM_EXPIRED":
        message = (
            "sqld dropped its transaction: the HTTP stream was idle for more than 10 s"
            f" between two db calls (STREAM_EXPIRED); keep slow work out of"
            f" {unit.direction}(db), or do it before the migration"
        )
    else:
        message = exc.message
    return MigrationFailed(unit.version, unit.path, None, None, message, direction=unit.direction)


def _verb(unit: Unit) -> str:
    return "applying" if unit.direction == "up" else "rolling back"


def apply_module(driver: Driver, path: Path, display: str, data: bytes) -> str | None:
    """Run a Python migration's ``up`` on a scratch database (lint, review), without
    tracking rows; the error as one line, or None."""
    from migrate_tasks.engine.refusals import Target
    from migrate_tasks.files.python_source import load_module, require_up

    try:
        module = load_module(path, display, data)
        require_up(module, display)
        up = function(module, "up")
        assert up is not None
        with user_code_path(), driver.interactive_transaction() as tx:
            db = MigrationDatabase(tx, path, display, Target.of(driver))
            try:
                up(db)
            except (Exception, SystemExit) as exc:
                failure = db.failure
                where = failure.line if failure else user_line(exc, path)
                raise MigrationFailed("", display, where, None, describe(exc)) from None
    except MigrationFailed as exc:
        return f"{display}:{exc.line}: {exc.db_message}" if exc.line else exc.db_message
    except MigrateError as exc:
        return str(exc)
    return None
