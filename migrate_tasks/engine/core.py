"""The migration operations over one database and one migrations folder (``Engine``).

Data flow for ``up``: file names -> read the tracking tables and the lease (one round
trip) -> parse and check every file not applied with its current checksum (a malformed
file stops us before anything is written) -> problems? refuse -> pure plan -> take the
lock in one transaction that also creates the tracking tables and reads the history
again from the primary (someone may have migrated while we waited) -> plan again -> for
each migration one driver call holding the lease renewal, the log row, the guarded
tracking-row move, the statements and the closing rows (``runner``) -> release ->
results. Over HTTP the migrations share requests, each its own transaction
(``batching``): 3 + ceil(N / budget) requests; ``--single-transaction`` (``single``): 3. The engine returns result objects; presentation lives in ``report``.

The pieces: ``catalogue`` (the files), ``tracking`` (the tables' SQL), ``lock``,
``plan`` (pure), ``unit_checks`` (libSQL's rules on a unit), ``runner``, ``single``,
``failures``, ``preview`` (--dry-run), ``repair``; each call's steps travel in a
``batch.Batch`` whose parts have names.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Driver, Step
from migrate_tasks.engine import unit_checks
from migrate_tasks.engine.batch import Batch
from migrate_tasks.engine.catalogue import MigrationSet
from migrate_tasks.engine.plan import (
    INVALID,
    PENDING,
    REFUSED,
    ROLLED_BACK,
    FileInfo,
    Plan,
    Problem,
    StatusRow,
    state_problems,
    status_rows,
)
from migrate_tasks.engine.planning import Request, plan_for
from migrate_tasks.engine.tracking import (
    UNREAD,
    Actor,
    Holder,
    Ledger,
    Record,
    Snapshot,
    is_replica,
)
from migrate_tasks.engine.units import Calls, Outcome, Result, RunOptions, Unit, current_actor
from migrate_tasks.errors import (
    AuthFailed,
    ConnectionFailed,
    MigrateError,
    MigrationFileError,
    UsageError,
)
from migrate_tasks.files.source import MigrationFile

if TYPE_CHECKING:
    from migrate_tasks.engine.checks import Reference
    from migrate_tasks.engine.lock import MigrationLock
    from migrate_tasks.engine.progress import Progress
    from migrate_tasks.engine.refusals import Refused, Target

__all__ = ["Calls", "Engine", "Outcome", "Result", "RunOptions", "Unit", "current_actor"]

log = logging.getLogger("migrate_tasks")
_UNPROBED = object()


class Engine:
    """The migration operations over one database and one migrations folder."""

    def __init__(
        self,
        driver: Driver,
        directory: Path,
        table: str,
        actor: Actor | None = None,
        *,
        migrations: MigrationSet | None = None,
    ) -> None:
        """``migrations``: the folder's files as another engine already read them (a
        fleet reads and parses each file once for all its databases)."""
        self.driver = driver
        self.migrations = migrations if migrations is not None else MigrationSet(directory)
        self.ledger = Ledger(table)
        self.actor = actor or current_actor()
        self._checked: set[tuple[str, str]] = set()
        self._replica: bool | object | None = _UNPROBED
        #: What the last ``validate`` found worth saying that is no problem.
        self.warnings: list[str] = []

    @property
    def directory(self) -> Path:
        return self.migrations.directory

    @property
    def target(self) -> Target:
        """What ``refusals`` needs to know about this database (from its driver)."""
        from migrate_tasks.engine.refusals import Target

        return Target.of(self.driver)

    # -- files (no database) --------------------------------------------------------------

    def files(self) -> dict[str, MigrationFile]:
        """Usable files; raises the first naming problem (status and up cannot guess)."""
        return self.migrations.files()

    def file_infos(self, files: Iterable[MigrationFile] | None = None) -> list[FileInfo]:
        return self.migrations.file_infos(files)

    def file_errors(self, skip: Iterable[str] = ()) -> list[MigrationFileError]:
        """Every bad name, duplicate version and unparseable file; reads no database."""
        return self.migrations.file_errors(skip)

    # -- reading --------------------------------------------------------------------------

    def records(self, *, fresh: bool = False) -> dict[str, Record]:
        if fresh:
            return self.ledger.read(self.driver, fresh=True)
        return self.read_state().records

    def read_state(self, *, lock: bool = False, probe: bool = False) -> Snapshot:
        """Tracking tables, history (and the lease) in ONE round trip on a server."""
        return self.ledger.snapshot(self.driver, lock=lock, probe=probe)

    def status(self, *, fresh: bool = False, probe_replica: bool = False) -> list[StatusRow]:
        """``fresh``: read through the primary even via a replica (needs write access).
        ``probe_replica``: also find out whether the server is a read replica (see
        ``replica``), in the same round trip when the driver's reads allow it."""
        files = self.file_infos()  # read files before the database: bad names fail fast
        if fresh:
            return status_rows(files, self.records(fresh=True))
        return status_rows(files, self._read_probing(probe_replica).records)

    def _read_probing(self, probe: bool) -> Snapshot:
        driver = self.driver
        if not (probe and driver.may_be_replica and driver.reads_in_one_round_trip):
            return self.read_state()  # ws: a refused probe closes the socket; ask after
        try:
            snapshot = self.read_state(probe=True)
        except AuthFailed:  # a read-only token may not even try the probe: read again
            snapshot = self.read_state()
            self._replica = None
            return snapshot
        self._replica = snapshot.replica
        return snapshot

    def replica(self) -> bool | None:
        """Whether the server is a read replica (whose plain reads may lag); None: unknown."""
        if not self.driver.may_be_replica:
            return False
        if self._replica is not _UNPROBED:
            return self._replica  # type: ignore[return-value]
        self._replica = is_replica(self.driver)
        return self._replica

    def validate(self) -> list[Problem]:
        """Everything that makes files and history disagree, and everything ``up`` or
        ``down`` would refuse before reading the database's contents, without stopping
        at the first. Warnings that are no problem (``no_op_warning``) are left in
        ``self.warnings``."""
        problems = [Problem(INVALID, None, str(e)) for e in self.file_errors()]
        infos = self.file_infos(self.migrations.scan()[0].values())  # bad names don't raise
        rows = status_rows(infos, self.records())
        problems.extend(Problem(REFUSED, v, str(e)) for v, e in self.target_refusals(rows))
        problems.extend(state_problems(rows))
        self.warnings = self.migrations.no_op_warnings(
            r.version for r in rows if r.state in (PENDING, ROLLED_BACK)
        )
        return problems

    def target_refusals(self, rows: Iterable[StatusRow]) -> list[tuple[str, Refused]]:
        """What this target refuses in the sections ``up`` and ``down`` may still run."""
        return unit_checks.target_refusals(self.migrations, rows, self.target)

    # -- up and down ----------------------------------------------------------------------

    def migrate(
        self,
        direction: str,
        *,
        step: int | None = None,
        to: str | None = None,
        all_: bool = False,
        allow_out_of_order: bool = False,
        single_transaction: bool = False,
        options: RunOptions | None = None,
    ) -> Outcome:
        """``up`` or ``down``: check, plan, confirm, lock, re-plan, apply.

        Round trips on a server: one read (history and the lease), one transaction that
        takes the lease and re-reads the history from the primary, one per migration (a
        driver that ``runs_groups``: as few as its budgets allow), one to release the
        lease. ``single_transaction`` (up only): every migration in
        ONE transaction, which also releases the lease, so three in all.

        A failure is raised carrying the results completed before it
        (``MigrateError.completed``): None when that cannot be told, because the files'
        names or the history could not be read, or the connection failed (the migration
        in flight may or may not have committed).
        """
        request = Request(direction, step, to, all_, allow_out_of_order, single_transaction)
        if request.single and request.direction != "up":
            refused = UsageError("--single-transaction is for up only")
            refused.completed = []
            raise refused
        try:
            self.migrations.files()  # exit 2 before the database is even read
            snapshot = self.read_state(lock=True)
        except MigrateError as exc:
            exc.completed = None
            raise
        try:
            return self._migrate(request, options or RunOptions(), snapshot)
        except MigrateError as exc:
            lost = isinstance(exc, ConnectionFailed) and not exc.read_back
            exc.completed = None if lost else exc.completed or []
            raise

    def _migrate(self, request: Request, options: RunOptions, snapshot: Snapshot) -> Outcome:
        plan = plan_for(self.migrations, request, snapshot.records)
        for warning in plan.warnings:
            log.warning("%s", warning)
        units = self.prepare(plan, single=request.single)
        ups = (u.version for u in units if u.direction == "up")
        no_ops = self.migrations.no_op_warnings(ups)
        for warning in no_ops:
            log.warning("%s", warning)
        outcome = Outcome(request.direction, units, warnings=[*plan.warnings, *no_ops])
        if not outcome.units:
            return outcome
        if options.dry_run:
            outcome.calls = self._preview(outcome.units, options, request.single)
            return outcome
        self._confirm(outcome, options)
        lock = self.new_lock(options)
        parts = lock.acquire(self._lock_then(units[0], request.single), holder=snapshot.holder)
        try:
            # again, under the lock, from the primary: someone may have migrated meanwhile
            fresh = self.ledger.parse_snapshot(parts)
            again = plan_for(self.migrations, request, fresh.records)
            outcome.units = self.prepare(again, single=request.single)
            if request.single:
                outcome.results = self.apply_single(outcome.units, lock)
            else:
                found = parts["references"]
                known = unit_checks.references_from(found[0]) if found else None
                outcome.results = self.apply(
                    outcome.units,
                    lock,
                    tables_ready=True,
                    references=known,
                    progress=options.progress,
                )
        finally:
            lock.release()
        return outcome

    def prepare(self, plan: Plan, *, single: bool = False) -> list[Unit]:
        """Parse every file the plan touches and refuse what this target cannot run;
        raises before anything is written. ``single``: also refuse what cannot join one
        transaction (``--single-transaction``)."""
        from migrate_tasks.engine.single import check_single

        units = []
        for version in plan.versions:
            unit = self.migrations.unit(version, plan.direction)
            if single:
                check_single(unit)
            if (version, plan.direction) not in self._checked:  # not before the lock
                unit_checks.check_target(unit, self.target)
                self._checked.add((version, plan.direction))
            units.append(unit)
        return units

    def _confirm(self, outcome: Outcome, options: RunOptions) -> None:
        verb = "apply" if outcome.direction == "up" else "roll back"
        listing = ", ".join(u.label for u in outcome.units)
        options.confirm_or_abort(f"{verb} {len(outcome.units)} migration(s): {listing}")

    def _lock_then(self, first: Unit, single: bool) -> Batch:
        """What the lock's transaction also carries: the tracking tables (created if
        need be), the history read again, and the foreign keys the first unit checks."""
        references = [] if single else unit_checks.references_for(first)
        batch = Batch().add("setup", self.ledger.create_steps())
        return batch.extend(self.ledger.snapshot_batch()).add("references", references)

    def _preview(self, units: list[Unit], options: RunOptions, single: bool) -> Calls:
        """Exactly what a real run would send, built by the same functions."""
        from migrate_tasks.engine.preview import migration_calls, preview
        from migrate_tasks.engine.single import SingleTransaction

        lock = self.new_lock(RunOptions(lock_timeout=0, lock_ttl=options.lock_ttl))
        then = self._lock_then(units[0], single)
        if single:
            one = SingleTransaction(units, lock, self.driver, self.ledger, self.actor, self.target)
            return preview([("atomic", one.batch)], lock, then, release=False)
        if self.driver.runs_groups:
            from migrate_tasks.engine.batching import batched_calls
            from migrate_tasks.engine.runner import Runner

            runner = Runner(self.driver, self.ledger, self.actor, self.target)
            return preview(batched_calls(runner, units, lock), lock, then)
        return preview(migration_calls(units, lock, self.ledger, self.actor), lock, then)

    def apply(
        self,
        units: list[Unit],
        lock: MigrationLock | None = None,
        *,
        tables_ready: bool = False,
        references: list[Reference] | None = None,
        progress: Progress | None = None,
    ) -> list[Result]:
        """Run the units in order, stopping at the first failure (which is raised).
        ``tables_ready``: the tracking tables exist (the lock's transaction made them).
        ``references``: the database's foreign keys as the first unit finds them."""
        from migrate_tasks.engine.runner import Runner

        if not units:
            return []
        if not tables_ready:
            setup = self.setup_steps()
            if setup:
                self.driver.run_atomic(setup)
        runner = Runner(self.driver, self.ledger, self.actor, self.target, progress)
        return runner.apply(units, lock, references)

    def apply_single(self, units: list[Unit], lock: MigrationLock) -> list[Result]:
        """All the units in ONE transaction (with the lease's release): all or nothing."""
        from migrate_tasks.engine.single import SingleTransaction

        if not units:
            return []
        one = SingleTransaction(units, lock, self.driver, self.ledger, self.actor, self.target)
        self.driver.ending()  # the one transaction releases the lease: the run's last request
        return one.apply()

    # -- the lock -------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(
        self, options: RunOptions, *, holder: Holder | object | None = UNREAD
    ) -> Iterator[MigrationLock]:
        """Hold the migration lock in the block. ``holder``: the lease as just read
        (``read_state(lock=True).holder``), which saves the lock its own first read."""
        lock = self.new_lock(options)
        lock.acquire(holder=holder)
        try:
            yield lock
        finally:
            lock.release()

    def new_lock(self, options: RunOptions) -> MigrationLock:
        """A lock (not taken yet) with the options' timeout and lease."""
        from migrate_tasks.engine.lock import MigrationLock

        return MigrationLock(
            self.driver, self.ledger, self.actor, timeout=options.lock_timeout, ttl=options.lock_ttl
        )

    def setup_steps(self) -> list[Step]:
        """Tracking-table DDL, needed only when the tables do not exist yet."""
        existing = self.ledger.existing_tables(self.driver)
        if {self.ledger.table, self.ledger.log_table} <= existing:
            return []
        return self.ledger.create_steps()

    # -- repair and unlock (``engine.repair``) -------------------------------------------

    def repair(self, version: str, status: str, options: RunOptions) -> Outcome:
        """Record what an operator fixed by hand: a failed (or modified) migration's state."""
        from migrate_tasks.engine.repair import repair

        return repair(self, version, status, options)

    def holder(self) -> Holder | None:
        return self.read_state(lock=True).holder

    def unlock(self, options: RunOptions) -> Holder | None:
        """Release a stale lock whoever holds it; returns the holder that was released."""
        from migrate_tasks.engine.repair import unlock

        return unlock(self, options)

    def unlock_calls(self) -> Calls:
        """What ``unlock`` sends, for --dry-run."""
        from migrate_tasks.engine.repair import unlock_calls

        return unlock_calls(self)
