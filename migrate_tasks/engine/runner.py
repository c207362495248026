"""Runs migrations one at a time, each as its own unit: one transaction holding the
lease renewal, the log row, the guarded tracking-row move, the statements and the
closing rows, so a migration and its record commit together or not at all.

A ``transaction:false`` section is the documented exception: an opening transaction
(its row goes to 'failed' until the section finishes), the statements each committing
on their own (in bounded chunks), and a closing transaction.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Driver, Row, Step
from migrate_tasks.engine import unit_checks
from migrate_tasks.engine.batch import Batch, Name, Spot
from migrate_tasks.engine.failures import (
    conflict,
    file_changed,
    log_failure,
    statement_failed,
)
from migrate_tasks.engine.progress import Progress, UnitProgress
from migrate_tasks.engine.tracking import GUARD, Actor, Ledger
from migrate_tasks.engine.units import Calls, Result, Unit
from migrate_tasks.errors import (
    DatabaseError,
    LockLost,
    MigrateError,
    MigrationFailed,
    MigrationFileError,
    StatementError,
)

if TYPE_CHECKING:
    from migrate_tasks.engine.checks import GuardedStatements, Reference
    from migrate_tasks.engine.lock import MigrationLock
    from migrate_tasks.engine.refusals import Target

log = logging.getLogger("migrate_tasks")

#: transaction:false statements go out this many at a time.
EACH_CHUNK = 1000
Parts = dict[Name, list[list[Row]]]


@dataclass
class UnitCalls:
    """The driver calls of one unit: one transaction, or for ``transaction:false`` an
    opening transaction, the statements each on their own, and a closing one."""

    opening: Batch
    statements: Batch | None = None
    closing: Batch | None = None

    def calls(self) -> Calls:
        if self.statements is None or self.closing is None:
            return [("atomic", self.opening)]
        return [("atomic", self.opening), ("each", self.statements), ("atomic", self.closing)]


def unit_calls(
    unit: Unit,
    ledger: Ledger,
    actor: Actor,
    renew: Step | None = None,
    guarded: Iterable[Step] | None = None,
    then: Sequence[Step] = (),
) -> UnitCalls:
    """The calls one unit makes, with named parts: "renew" (the lease), "log" (its log
    row), "move" (the guarded tracking-row move), "statements", "finish" (the closing
    rows) and "then" (reads for the next unit, at the end of this one's last
    transaction). Statements are produced lazily, so a streamed unit never sits in
    memory whole."""
    log_row, move = ledger.begin_steps(
        unit.version, unit.name, unit.checksum, unit.direction, actor,
        transaction=unit.transaction,
    )  # fmt: skip
    opening = Batch().add("renew", [renew] if renew else []).add("log", [log_row])
    opening.add("move", [move])
    statements: Iterable[Step]
    if guarded is not None:
        statements = guarded
    elif unit.python is not None:  # a dry run: its statements are known only when it runs
        from migrate_tasks.engine.python_units import preview_steps

        statements = preview_steps(unit)
    else:
        statements = unit_checks.plain(unit)
    closing = Batch().add("finish", ledger.finish_steps(unit.version, unit.direction))
    closing.add("then", then)
    if unit.transaction:
        return UnitCalls(opening.add("statements", statements).extend(closing))
    return UnitCalls(opening, Batch().add("statements", statements), closing)


def next_reads(unit: Unit, after: Unit | None) -> list[Step]:
    """What ``unit``'s last transaction reads for the unit ``after`` it: the foreign keys
    its DROP/RENAME checks need (none when ``unit`` returns no rows)."""
    return [] if unit.runs_lazily else unit_checks.references_for(after)


class Runner:
    """Runs units through one driver, in order, stopping at the first failure."""

    def __init__(
        self,
        driver: Driver,
        ledger: Ledger,
        actor: Actor,
        target: Target,
        progress: Progress | None = None,
    ) -> None:
        self.driver = driver
        self.ledger = ledger
        self.actor = actor
        self.target = target
        self.progress = progress
        self._place = (0, 0)  # the unit running: its number in the run, and the run's size

    def apply(
        self,
        units: Sequence[Unit],
        lock: MigrationLock | None = None,
        references: list[Reference] | None = None,
    ) -> list[Result]:
        """Run the units in order; the first failure is raised, carrying the results
        completed before it (``MigrateError.completed``). ``references``: the
        database's foreign keys as the first unit finds them. A unit whose DROP/ALTER
        needs them for the next one reads them at the end of its own transaction, so
        that costs no round trip. A driver that ``runs_groups`` gets many units per
        request instead (``engine.batching``)."""
        if self.driver.runs_groups:
            from migrate_tasks.engine.batching import Batcher

            return Batcher(self, lock).apply(units)
        results: list[Result] = []
        try:
            for index, (unit, after) in enumerate(itertools.zip_longest(units, units[1:])):
                self.place(index + 1, len(units))
                then = next_reads(unit, after)
                result, rows, held = self.run(unit, lock, references, then)
                results.append(result)
                if lock is not None and not held:
                    raise _lock_lost(lock, unit)
                references = unit_checks.references_from(rows[0]) if rows else None
        except MigrateError as exc:
            exc.completed = list(results)
            raise
        return results

    def run(
        self,
        unit: Unit,
        lock: MigrationLock | None,
        references: list[Reference] | None = None,
        then: Sequence[Step] = (),
    ) -> tuple[Result, list[list[Row]], bool]:
        """Run one unit; its result, the rows of ``then`` (read at the end of its last
        transaction; none for a streamed unit, which returns no rows), and whether the
        lease was still ours when it committed."""
        if unit.python is not None:  # one interactive transaction of its own
            from migrate_tasks.engine.python_units import run_python

            told = self._watch(unit)
            if told:
                told.tell("start")  # its statements are known only as its code runs
            ran = run_python(self, unit, lock, then)
            if told:
                told.tell("done")
            return ran
        _log_start(unit)
        started_wall, started = utc_now(), time.perf_counter()
        renew = lock.renew_step() if lock else None
        held = True
        if renew is not None and unit.streamed:
            # a streamed unit returns no rows: renew (and check) the lease on its own first
            held = bool(self.driver.run_atomic([renew])[0])
            renew = None
        guarded = unit_checks.guarded(unit, self.driver, self.target, known=references)
        told = self._watch(unit)
        statements = told.counted(guarded, guarded.is_added) if told else guarded
        calls = unit_calls(unit, self.ledger, self.actor, renew, statements, then)
        try:
            parts = self._send(unit, calls, guarded)
        except (MigrationFileError, MigrationFailed) as exc:
            elapsed = (time.perf_counter() - started) * 1000
            failed = file_changed(unit, exc) if isinstance(exc, MigrationFileError) else exc
            log_failure(
                self.driver, self.ledger, self.actor, unit, started_wall, elapsed, failed.db_message
            )
            if failed is exc:
                raise
            raise failed from None
        elapsed = (time.perf_counter() - started) * 1000
        if told:
            told.tell("done")
        done = "applied" if unit.direction == "up" else "rolled back"
        log.info("%s %s in %.0f ms", done, unit.label, elapsed)
        if renew is not None:
            held = bool(parts["renew"][0])
        result = Result(unit.version, unit.name, unit.direction, unit.statement_count, elapsed)
        return result, parts.get("then", []), held

    def place(self, index: int, total: int) -> None:
        """The next unit is the ``index``-th of ``total`` in this run (for ``progress``)."""
        self._place = (index, total)

    def watch(self, unit: Unit, index: int, total: int) -> UnitProgress | None:
        """Who tells ``progress`` about ``unit`` (None without a listener)."""
        return UnitProgress(self.progress, unit, index, total) if self.progress else None

    def _watch(self, unit: Unit) -> UnitProgress | None:
        return self.watch(unit, *self._place)

    def _send(self, unit: Unit, calls: UnitCalls, guarded: GuardedStatements) -> Parts:
        """Make the unit's calls; the rows of their parts, by name."""
        if calls.statements is None or calls.closing is None:
            return self._atomic(unit, calls.opening, guarded)
        parts = self._atomic(unit, calls.opening, guarded)
        self._each(unit, calls.statements, guarded)
        # the statements have committed: a failure here is told as the database says it
        closing = calls.closing
        parts.update(closing.split(self.driver.run_atomic(closing.steps())))
        return parts

    def _atomic(self, unit: Unit, batch: Batch, guarded: GuardedStatements) -> Parts:
        fk_off = {"foreign_keys_off": True} if unit.foreign_keys_off and unit.transaction else {}
        try:
            if unit.runs_lazily:
                self.driver.run_atomic_iter(batch, **fk_off)
                return {}
            return batch.split(self.driver.run_atomic(batch.steps(), **fk_off))
        except StatementError as exc:
            spot = batch.locate(exc.index)
            if spot.part == "move" and GUARD in exc.message:
                raise conflict(unit) from None
            raise self._failed(unit, exc, spot, guarded, partial=False) from exc
        except DatabaseError as exc:  # e.g. COMMIT refused a deferred foreign key
            raise MigrationFailed(
                unit.version, unit.path, None, None, exc.message, direction=unit.direction
            ) from exc

    def _each(self, unit: Unit, batch: Batch, guarded: GuardedStatements) -> None:
        """transaction:false: each statement commits on its own (in bounded chunks)."""
        done = 0
        steps = iter(batch)
        while chunk := list(itertools.islice(steps, EACH_CHUNK)):
            try:
                self.driver.run_each(chunk)
            except StatementError as exc:
                spot = batch.locate(done + exc.index)
                raise self._failed(unit, exc, spot, guarded, partial=True) from exc
            done += len(chunk)

    def _failed(
        self,
        unit: Unit,
        exc: StatementError,
        spot: Spot,
        guarded: GuardedStatements,
        *,
        partial: bool,
    ) -> MigrationFailed:
        """A step failed: one of the statements (or a check added to them), or one of
        the tracking steps around them."""
        table = self.ledger.table
        if spot.part == "statements":
            return statement_failed(
                unit, exc, spot.index, partial=partial, table=table, guarded=guarded
            )
        return statement_failed(unit, exc, -1, partial=False, table=table)


def _lock_lost(lock: MigrationLock, unit: Unit) -> LockLost:
    return LockLost(
        f"lost the migration lock while running (its lease of {lock.ttl} s expired and"
        f" another run took it); stopped after {unit.label}, which completed. Raise"
        " lock_ttl above your longest migration"
    )


def _log_start(unit: Unit) -> None:
    verb = "applying" if unit.direction == "up" else "rolling back"
    log.debug("%s %s (%s, %d statements)", verb, unit.label, unit.path, unit.statement_count)
    if unit.section is not None:
        for stmt in unit.section.statements:
            log.debug("  %s:%d: %s", unit.path, stmt.line, " ".join(stmt.sql.split())[:200])


def utc_now() -> str:
    """Now, as the log table writes it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
