"""``up --single-transaction``: every pending migration, and the lease's release, in ONE
transaction, so either all of them are applied or none is.

The batch holds the lease's renewal and a check that we still hold it (part "lock":
nothing commits without the lock), then per migration n its log row ("log", n), its
guarded tracking-row move ("move", n), its statements ("statements", n) and its closing
rows ("finish", n) and ("stamp", n), the stamp returning the time the database measured,
and finally the release ("release"). What a migration run on its
own learns before it starts (which tables reference the one it drops) exists here only
inside the transaction, so a check goes before each DROP TABLE
(``drop_reference_check``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Driver, Step
from migrate_tasks.engine import unit_checks
from migrate_tasks.engine.batch import Batch
from migrate_tasks.engine.failures import conflict, log_failure, statement_at, statement_failed
from migrate_tasks.engine.runner import utc_now
from migrate_tasks.engine.tracking import GUARD, LOCK_LOST, Actor, Ledger
from migrate_tasks.engine.units import Result, Unit
from migrate_tasks.errors import (
    DatabaseError,
    LockLost,
    MigrateError,
    MigrationFailed,
    MigrationFileError,
    StatementError,
)

if TYPE_CHECKING:
    from migrate_tasks.engine.checks import GuardedStatements
    from migrate_tasks.engine.lock import MigrationLock
    from migrate_tasks.engine.refusals import Target

log = logging.getLogger("migrate_tasks")

#: In the error of ``drop_reference_check``: the tables that reference the dropped one.
REFERENCED_DROP = "referenced_drop"


def check_single(unit: Unit) -> None:
    """Refuse what cannot join one transaction, before anything is sent."""
    from migrate_tasks.engine.refusals import Refused

    why = None
    if not unit.transaction:
        why = (
            "is transaction:false: its statements must each commit on their own,"
            " outside any transaction"
        )
    elif unit.foreign_keys_off:
        why = (
            "uses foreign_keys:off, which turns foreign keys off around its own"
            " transaction (PRAGMA foreign_keys cannot change inside one)"
        )
    if why:
        raise Refused(
            unit.path,
            unit.header_line,
            f"--single-transaction runs every pending migration in ONE transaction,"
            f" but {unit.label} {why}; apply without --single-transaction (or apply"
            f" the migrations before {unit.version} with --single-transaction --to,"
            " then the rest without it). Nothing was run",
        )


class SingleTransaction:
    """The one transaction of a --single-transaction run: its batch (built lazily, see
    the module docstring), running it, and telling a failure in the user's terms."""

    def __init__(
        self,
        units: Sequence[Unit],
        lock: MigrationLock,
        driver: Driver,
        ledger: Ledger,
        actor: Actor,
        target: Target,
    ) -> None:
        self.units = list(units)
        self.lock = lock
        self.driver = driver
        self.ledger = ledger
        self.actor = actor
        self.target = target
        self.checks: dict[int, DropChecks] = {}
        self.batch = self._batch()

    def _batch(self) -> Batch:
        owner = self.lock.owner
        batch = Batch().add("lock", [self.lock.renew_step(), self.ledger.lock_guard_step(owner)])
        for n, unit in enumerate(self.units):
            log_row, move = self.ledger.begin_steps(
                unit.version, unit.name, unit.checksum, unit.direction, self.actor
            )
            batch.add(("log", n), [log_row]).add(("move", n), [move])
            batch.add(("statements", n), self._statements(n, unit))
            close_log, stamp = self.ledger.finish_steps(
                unit.version, unit.direction, returning=True
            )
            batch.add(("finish", n), [close_log]).add(("stamp", n), [stamp])
        return batch.add("release", [self.ledger.release_step(owner)])

    def _statements(self, n: int, unit: Unit) -> Iterator[Step]:
        checks = DropChecks(unit_checks.guarded(unit, self.driver, self.target, references=False))
        self.checks[n] = checks
        yield from checks

    def apply(self) -> list[Result]:
        """All the units in ONE transaction (with the lease's release): all or nothing."""
        log.info("applying %d migration(s) in one transaction", len(self.units))
        for unit in self.units:
            log.debug("%s %s (%s)", "applying", unit.label, unit.path)
        started_wall, started = utc_now(), time.perf_counter()
        rows = None
        try:
            if any(u.streamed for u in self.units):
                self.driver.run_atomic_iter(self.batch)
            else:
                rows = self.driver.run_atomic(self.batch.steps())
        except (MigrationFileError, DatabaseError) as exc:
            raise self._failed(exc, started_wall, started) from None
        self.lock.held = False  # released by the transaction itself
        elapsed = (time.perf_counter() - started) * 1000
        parts = self.batch.split(rows) if rows else {}
        results = []
        for n, unit in enumerate(self.units):
            (stamp,) = parts[("stamp", n)] if rows else [None]  # RETURNING execution_ms
            share = elapsed / len(self.units)  # a streamed unit returns no rows
            ms = float(stamp[0][0]) if stamp and stamp[0][0] is not None else share
            log.info("applied %s in %.0f ms (in the one transaction)", unit.label, ms)
            results.append(
                Result(unit.version, unit.name, unit.direction, unit.statement_count, ms)
            )
        log.info(
            "committed %d migration(s) in one transaction in %.0f ms", len(self.units), elapsed
        )
        return results

    def _failed(self, exc: MigrateError, started_wall: str, started: float) -> MigrateError:
        """The error to raise for a failure of the one transaction, logged and noted."""
        elapsed = (time.perf_counter() - started) * 1000
        unit, failure = self._failure(exc)
        if unit is not None and isinstance(failure, MigrationFailed):
            log_failure(
                self.driver, self.ledger, self.actor, unit, started_wall, elapsed,
                failure.db_message,
            )  # fmt: skip
        if not isinstance(failure, LockLost):
            count = len(self.units)
            note = (
                f"nothing of the other {count - 1} pending migration(s) was applied either"
                if unit is not None
                else f"none of the {count} pending migration(s) was applied"
            )
            failure.args = (f"{failure}\n  --single-transaction: {note}",)
        return failure

    def _failure(self, exc: MigrateError) -> tuple[Unit | None, MigrateError]:
        """Which unit (and statement) a failure of the one transaction belongs to."""
        if isinstance(exc, MigrationFileError):  # a streamed file changed while applied
            part = self.batch.current()
            unit = self.units[part[1]] if isinstance(part, tuple) else self.units[-1]
            return unit, MigrationFailed(
                unit.version, unit.path, exc.line, None, exc.reason, direction=unit.direction
            )
        if not isinstance(exc, StatementError):
            # not one migration's fault: COMMIT refused (a deferred foreign key), or sqld
            # ended the transaction (its message says why); nothing of it was applied
            assert isinstance(exc, DatabaseError)
            return None, DatabaseError(f"the one transaction failed: {exc.message}", exc.code)
        part, offset = self.batch.locate(exc.index)
        if not isinstance(part, tuple):  # "lock" or "release"
            return None, _lock_failure(exc)
        kind, n = part
        unit = self.units[n]
        if kind == "move" and GUARD in exc.message:
            return unit, conflict(unit)
        table = self.ledger.table
        if kind != "statements":
            return unit, statement_failed(unit, exc, -1, partial=False, table=table)
        checks = self.checks[n]
        inner, drop = checks.locate(offset)
        if drop:
            return unit, refused_drop(unit, checks.guarded, inner, exc, table)
        return unit, statement_failed(
            unit, exc, inner, partial=False, table=table, guarded=checks.guarded
        )


def refused_drop(
    unit: Unit, guarded: GuardedStatements, inner: int, exc: StatementError, table: str
) -> MigrateError:
    """The in-transaction reference check before a DROP TABLE found referencing
    tables: the same refusal as a migration run on its own gets before it starts."""
    from migrate_tasks.engine.checks import Reference, ReferenceCheck, check_failure
    from migrate_tasks.engine.refusals import Refused
    from migrate_tasks.sql.shapes import schema_change

    index, _added = guarded.locate(inner)
    statement = statement_at(unit, index)
    found = check_failure(exc.message)
    if statement is None or found is None or found[0] != REFERENCED_DROP:
        return statement_failed(unit, exc, index, partial=False, table=table)
    references = []
    for item in found[1].split("\x1e"):
        child, _, action = item.partition("\x1f")
        change = schema_change(statement.sql)
        parent = change.table if change else ""
        references.append(Reference(child, parent, action or "NO ACTION"))
    check = ReferenceCheck(lambda: references, unit.path, f"-- migrate:{unit.direction}")
    try:
        check(statement)
    except Refused as refused:
        return refused
    return statement_failed(unit, exc, index, partial=False, table=table)


def _lock_failure(exc: StatementError) -> MigrateError:
    if LOCK_LOST in exc.message:
        return LockLost(
            "lost the migration lock before the transaction started (its lease"
            " expired and another run took it); nothing was applied. Raise lock_ttl"
            " above the time a run takes"
        )
    return DatabaseError(f"the migration lock could not be renewed: {exc.message}", exc.code)


def drop_reference_check(table: str) -> Step:
    """Before a ``DROP TABLE`` in a --single-transaction run: fail (naming them) if other
    tables reference ``table`` at this point of the transaction. A migration run on its
    own gets this check before it starts (``checks.ReferenceCheck``), from the database
    as the migrations before it left it; in one transaction that state exists only here.
    """
    from migrate_tasks.engine.checks import MARKER

    problems = "group_concat(child || char(31) || on_delete, char(30))"
    return Step(
        f"SELECT CASE WHEN count(*) > 0 THEN json_extract('{{}}', '{MARKER}{REFERENCED_DROP}:'"
        f" || {problems}) END FROM (SELECT DISTINCT m.name AS child, f.on_delete AS on_delete"
        " FROM sqlite_schema AS m JOIN pragma_foreign_key_list(m.name) AS f"
        " WHERE m.type = 'table' AND lower(f.\"table\") = lower(?) AND lower(m.name) <> lower(?))",
        (table, table),
    )


class DropChecks:
    """A unit's guarded steps with ``drop_reference_check`` before each DROP TABLE."""

    def __init__(self, guarded: GuardedStatements) -> None:
        self.guarded = guarded
        self._added: dict[int, int] = {}  # our step index -> index of the DROP in guarded

    def __iter__(self) -> Iterator[Step]:
        from migrate_tasks.sql.shapes import schema_change

        produced = 0
        for inner, step in enumerate(self.guarded):
            if step.sql[:4].upper() == "DROP":
                change = schema_change(step.sql)
                if change is not None and change.kind == "drop_table":
                    self._added[produced] = inner
                    yield drop_reference_check(change.table)
                    produced += 1
            yield step
            produced += 1

    def locate(self, index: int) -> tuple[int, bool]:
        """Step ``index`` of ours -> the index in ``guarded``, and whether it is a check."""
        if index in self._added:
            return self._added[index], True
        return index - sum(1 for i in self._added if i < index), False
