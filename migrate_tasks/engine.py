"""Runs plans through a driver: one atomic unit per migration, statements and record together.

Data flow for ``up``: files -> parse and check them all (a malformed file stops us before
the database is touched) -> read the tracking table -> problems? refuse -> pure plan ->
take the lock -> read and plan again (someone may have migrated while we waited) -> for
each migration one driver call holding the lease renewal, the log row, the guarded
tracking-row move, the statements and the closing rows -> results.
The engine returns result objects; presentation lives in ``report``.
"""

from __future__ import annotations

import contextlib
import getpass
import itertools
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .compat import Refused, check_section, check_statement, options_problem
from .drivers.base import Driver, Step
from .errors import (
    CheckFailed,
    DatabaseError,
    LockLost,
    MigrateError,
    MigrationFailed,
    MigrationFileError,
    StatementError,
    UsageError,
)
from .guards import Added, GuardedStatements, ReferenceCheck, describe_failure, read_references
from .ledger import GUARD, TRANSITIONS, Actor, Holder, Ledger, Record, is_replica
from .lock import MigrationLock
from .parser import ParsedMigration, Section, Statement, parse_migration
from .plan import (
    FAILED,
    INVALID,
    MODIFIED,
    OUT_OF_ORDER,
    FileInfo,
    Plan,
    Problem,
    StatusRow,
    plan_down,
    plan_up,
    state_problems,
    status_rows,
)
from .source import MigrationFile, checksum, scan
from .stream import STREAM_THRESHOLD_BYTES, FileSummary, SectionInfo, iter_statements, scan_file

log = logging.getLogger("migrate_tasks")

# ("atomic" | "each" | "connection", steps), in the order they are sent; "connection":
# on the unit's own connection, outside any transaction (the foreign_keys pragmas)
Calls = list[tuple[str, Iterable[Step]]]
EACH_CHUNK = 1000


@dataclass(frozen=True)
class Unit:
    """One migration in one direction, parsed and ready to run."""

    version: str
    name: str
    path: str
    checksum: str
    direction: str
    #: The parsed section; None for a file too big to hold, which is streamed instead.
    section: Section | None
    info: SectionInfo | None = None
    file: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"

    @property
    def streamed(self) -> bool:
        return self.section is None

    @property
    def transaction(self) -> bool:
        if self.section is not None:
            return self.section.transaction
        return self.info is None or self.info.transaction

    @property
    def options(self) -> Mapping[str, str]:
        source = self.section if self.section is not None else self.info
        return source.options if source is not None else {}

    @property
    def header_line(self) -> int | None:
        source = self.section if self.section is not None else self.info
        return source.line if source is not None else None

    @property
    def foreign_keys_off(self) -> bool:
        """``foreign_keys:off``: run with foreign keys off, check them before COMMIT."""
        return self.options.get("foreign_keys") == "off"

    @property
    def statement_count(self) -> int:
        if self.section is not None:
            return len(self.section.statements)
        return self.info.statement_count if self.info else 0

    def statements(self) -> Iterator[Statement]:
        """The section's statements; a big file is read again, lazily, and checked."""
        if self.section is not None:
            return iter(self.section.statements)
        assert self.file is not None
        return iter_statements(self.file, self.path, self.direction, checksum=self.checksum)


@dataclass(frozen=True)
class Result:
    version: str
    name: str
    direction: str
    statements: int
    duration_ms: float


@dataclass
class Outcome:
    """What a writing operation did (or, for a dry run, would send)."""

    direction: str
    units: list[Unit] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    calls: Calls | None = None  # dry run only


@dataclass(frozen=True)
class RunOptions:
    """How a writing task wants the lock, confirmation and dry run handled."""

    dry_run: bool = False
    lock_timeout: float = 60.0
    lock_ttl: int = 120
    #: Called with a description of what is about to change; False aborts. None: no asking.
    confirm: Callable[[str], bool] | None = None


def current_actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return Actor(user=user, host=socket.gethostname(), pid=os.getpid())


class Engine:
    """The migration operations over one database and one migrations folder."""

    def __init__(
        self, driver: Driver, directory: Path, table: str, actor: Actor | None = None
    ) -> None:
        self.driver = driver
        self.directory = Path(directory)
        self.ledger = Ledger(table)
        self.actor = actor or current_actor()
        self._scanned: tuple[dict[str, MigrationFile], list[MigrationFileError]] | None = None
        self._data: dict[str, bytes] = {}
        self._summaries: dict[str, FileSummary] = {}
        self._parsed_files: dict[str, ParsedMigration] = {}
        self._checksums: dict[str, str] = {}

    # -- reading --------------------------------------------------------------------------

    def _scan(self) -> tuple[dict[str, MigrationFile], list[MigrationFileError]]:
        if self._scanned is None:
            files, problems = scan(self.directory)
            self._scanned = ({f.version: f for f in files}, problems)
        return self._scanned

    def files(self) -> dict[str, MigrationFile]:
        """Usable files; raises the first naming problem (status and up cannot guess)."""
        files, problems = self._scan()
        if problems:
            raise problems[0]
        return files

    def _bytes(self, version: str) -> bytes:
        if version not in self._data:
            self._data[version] = self._scan()[0][version].read()
        return self._data[version]

    def _big(self, version: str) -> bool:
        try:
            return self._scan()[0][version].path.stat().st_size > STREAM_THRESHOLD_BYTES
        except OSError:
            return False  # reading it will report the problem

    def _summary(self, version: str) -> FileSummary:
        """One streaming pass over a big file: every parser check, and its checksum."""
        if version not in self._summaries:
            file = self._scan()[0][version]
            self._summaries[version] = scan_file(file.path, file.display)
        return self._summaries[version]

    def _parsed(self, version: str) -> ParsedMigration:
        """A small file, parsed once per run (``up`` checks every file before and again
        under the lock, then prepares the planned ones)."""
        if version not in self._parsed_files:
            file = self._scan()[0][version]
            self._parsed_files[version] = parse_migration(self._bytes(version), file.display)
        return self._parsed_files[version]

    def _checksum(self, version: str) -> str:
        if version not in self._checksums:
            if not self._big(version):
                self._checksums[version] = checksum(self._bytes(version))
            else:
                try:
                    self._checksums[version] = self._summary(version).checksum
                except MigrationFileError:
                    return "unparseable"  # differs from any recorded checksum: modified
        return self._checksums[version]

    def file_infos(self, files: Iterable[MigrationFile] | None = None) -> list[FileInfo]:
        chosen = self.files().values() if files is None else files
        return [FileInfo(f.version, f.name, self._checksum(f.version)) for f in chosen]

    def records(self, *, fresh: bool = False) -> dict[str, Record]:
        return self.ledger.read(self.driver, fresh=fresh)

    def status(self, *, fresh: bool = False) -> list[StatusRow]:
        """``fresh``: read through the primary even via a replica (needs write access)."""
        files = self.file_infos()  # read files before the database: bad names fail fast
        return status_rows(files, self.records(fresh=fresh))

    def replica(self) -> bool | None:
        """Whether the server is a read replica (whose plain reads may lag); None: unknown."""
        if self.driver.name not in ("hrana-http", "hrana-ws"):
            return False
        return is_replica(self.driver)

    def file_errors(self) -> list[MigrationFileError]:
        """Every bad name, duplicate version and unparseable file; reads no database."""
        files, errors = self._scan()
        errors = list(errors)
        for file in files.values():
            try:
                if self._big(file.version):
                    self._summary(file.version)
                else:
                    self._parsed(file.version)
            except MigrationFileError as exc:
                errors.append(exc)
        return errors

    def validate(self) -> list[Problem]:
        """Everything that makes files and history disagree, without stopping at the first."""
        problems = [Problem(INVALID, None, str(e)) for e in self.file_errors()]
        infos = self.file_infos(self._scan()[0].values())  # without raising on bad names
        problems.extend(state_problems(status_rows(infos, self.records())))
        return problems

    # -- writing --------------------------------------------------------------------------

    def migrate(
        self,
        direction: str,
        *,
        step: int | None = None,
        to: str | None = None,
        all_: bool = False,
        allow_out_of_order: bool = False,
        options: RunOptions | None = None,
    ) -> Outcome:
        """``up`` or ``down``: check, plan, confirm, lock, re-plan, apply."""
        options = options or RunOptions()

        def make_plan(fresh: bool = False) -> Plan:
            rows = self._checked_rows(direction, allow_out_of_order, fresh=fresh)
            if direction == "up":
                return plan_up(rows, step=step, to=to)
            return plan_down(rows, step=step, to=to, all_=all_)

        plan = make_plan()
        for warning in plan.warnings:
            log.warning("%s", warning)
        outcome = Outcome(direction, self.prepare(plan), warnings=list(plan.warnings))
        if not outcome.units:
            return outcome
        if options.dry_run:
            outcome.calls = self._preview(outcome.units, options.lock_ttl)
            return outcome
        if options.confirm is not None:
            verb = "apply" if direction == "up" else "roll back"
            listing = ", ".join(u.label for u in outcome.units)
            if not options.confirm(f"{verb} {len(outcome.units)} migration(s): {listing}"):
                raise UsageError("aborted: nothing was changed")
        with self.locked(options) as lock:
            plan = make_plan(fresh=True)  # again, under the lock, from the primary
            outcome.units = self.prepare(plan)
            outcome.results = self.apply(outcome.units, lock)
        return outcome

    def _checked_rows(
        self, direction: str, allow_out_of_order: bool, *, fresh: bool = False
    ) -> list[StatusRow]:
        """Status rows, after refusing on any problem that makes running unsafe."""
        if direction == "up":
            errors = self.file_errors()  # exit 2, before the database is even read
            if errors:
                raise errors[0]
        rows = self.status(fresh=fresh)
        if direction == "up":
            blocking = [
                p
                for p in state_problems(rows)
                if not (allow_out_of_order and p.kind == OUT_OF_ORDER)
            ]
        else:
            blocking = [p for p in state_problems(rows) if p.kind == FAILED]
        if blocking:
            raise CheckFailed(
                f"refusing to migrate {direction}: " + "; ".join(p.message for p in blocking)
            )
        return rows

    def prepare(self, plan: Plan) -> list[Unit]:
        """Parse every file the plan touches; raises before anything is written."""
        units = []
        for version in plan.versions:
            file = self.files()[version]
            if self._big(version):
                summary = self._summary(version)
                info = summary.up if plan.direction == "up" else summary.down
                self._require_statements(file, info, info.statement_count if info else 0)
                unit = Unit(
                    version, file.name, file.display, summary.checksum, plan.direction,
                    None, info, file.path,
                )  # fmt: skip
            else:
                parsed = self._parsed(version)
                section = parsed.up if plan.direction == "up" else parsed.down
                self._require_statements(file, section, len(section.statements) if section else 0)
                unit = Unit(
                    version,
                    file.name,
                    file.display,
                    self._checksum(version),
                    plan.direction,
                    section,
                )
            self._check_target(unit)
            units.append(unit)
        return units

    # -- libSQL specifics (docs/libsql.md): compat refusals, FK and ALTER COLUMN checks ---

    def _check_target(self, unit: Unit) -> None:
        """Refuse what this target cannot run (``compat``), before anything runs. A
        streamed unit's statements are checked as they are read (see ``_guarded``)."""
        if unit.section is not None:
            check_section(
                unit.path, unit.header_line, unit.options, unit.section.statements,
                driver=self.driver.name,
            )  # fmt: skip
        elif problem := options_problem(unit.options, driver=self.driver.name):
            raise Refused(unit.path, unit.header_line, problem)

    def _guarded(self, unit: Unit) -> GuardedStatements:
        """The unit's statements plus libSQL's checks (``guards``). Refusals (a DROP of a
        referenced table, statements the target cannot run) come before anything of the
        unit runs; for a streamed transactional unit, as its statements are read, which
        rolls its transaction back."""
        header = f"-- migrate:{unit.direction}"
        references = ReferenceCheck(lambda: read_references(self.driver), unit.path, header)

        def check(statement: Statement) -> None:
            if unit.streamed:  # in-memory units passed compat in prepare()
                check_statement(
                    unit.path, statement, driver=self.driver.name, transaction=unit.transaction
                )
            if not unit.foreign_keys_off:  # with it, the final foreign-key check decides
                references(statement)

        if unit.streamed and unit.transaction:
            return GuardedStatements(
                unit.statements(), foreign_keys_off=unit.foreign_keys_off, check=check
            )
        for statement in unit.statements():  # cheap in memory; rare for a big file
            check(statement)
        return GuardedStatements(unit.statements(), foreign_keys_off=unit.foreign_keys_off)

    def _check_failed(self, unit: Unit, added: Added, exc: StatementError) -> MigrationFailed:
        """One of the checks ``guards`` added found a problem; say which, and where."""
        message = describe_failure(added, exc.message)
        if added.statement is None:
            return MigrationFailed(
                unit.version, unit.path, unit.header_line, None, message, direction=unit.direction
            )
        return MigrationFailed(
            unit.version, unit.path, added.statement.line, added.statement.sql, message,
            direction=unit.direction, partial=not unit.transaction,
        )  # fmt: skip

    @staticmethod
    def _require_statements(
        file: MigrationFile, section: Section | SectionInfo | None, count: int
    ) -> None:
        """A down section must exist and say something, or rollback would lie."""
        if section is not None and (section.direction == "up" or count):
            return
        raise MigrationFileError(
            file.display,
            section.line if section else None,
            "no down statements, so this migration cannot be rolled back; write "
            "them under '-- migrate:down' (use 'SELECT 1;' for a deliberate no-op)",
        )

    @contextlib.contextmanager
    def locked(self, options: RunOptions) -> Iterator[MigrationLock]:
        lock = MigrationLock(
            self.driver, self.ledger, self.actor, timeout=options.lock_timeout, ttl=options.lock_ttl
        )
        lock.acquire()
        try:
            yield lock
        finally:
            lock.release()

    def setup_steps(self) -> list[Step]:
        """Tracking-table DDL, needed only when the tables do not exist yet."""
        existing = self.ledger.existing_tables(self.driver)
        if {self.ledger.table, self.ledger.log_table} <= existing:
            return []
        return self.ledger.create_steps()

    def unit_calls(
        self, unit: Unit, renew: Step | None = None, guarded: GuardedStatements | None = None
    ) -> Calls:
        """The driver calls one unit makes, in order: ("atomic" | "each", steps).

        Statements are produced lazily, so a streamed unit never sits in memory whole.
        """
        opening = [
            *([renew] if renew else []),
            *self.ledger.begin_steps(
                unit.version, unit.name, unit.checksum, unit.direction, self.actor,
                transaction=unit.transaction,
            ),
        ]  # fmt: skip
        if guarded is None:
            guarded = GuardedStatements(unit.statements(), foreign_keys_off=unit.foreign_keys_off)
        statements = iter(guarded)
        closing = self.ledger.finish_steps(unit.version, unit.direction)
        if unit.transaction:
            return [("atomic", itertools.chain(opening, statements, closing))]
        return [("atomic", opening), ("each", statements), ("atomic", closing)]

    def _preview(self, units: Sequence[Unit], ttl: int) -> Calls:
        """Exactly what a real run would send, built by the same functions."""
        lock = MigrationLock(self.driver, self.ledger, self.actor, ttl=ttl)
        calls: Calls = []
        if lock.lock_table_missing():
            calls.append(("atomic", self.ledger.lock_create_steps()))
        calls.append(("atomic", [self.ledger.acquire_step(lock.owner, self.actor, ttl)]))
        setup = self.setup_steps()
        if setup:
            calls.append(("atomic", setup))
        for unit in units:
            unit_calls = self.unit_calls(unit, lock.renew_step())
            if unit.foreign_keys_off:  # on the transaction's connection, outside it
                off, on = Step("PRAGMA foreign_keys=OFF"), Step("PRAGMA foreign_keys=ON")
                unit_calls = [("connection", [off]), *unit_calls, ("connection", [on])]
            calls.extend(unit_calls)
        calls.append(("atomic", [self.ledger.release_step(lock.owner)]))
        return calls

    def apply(self, units: list[Unit], lock: MigrationLock | None = None) -> list[Result]:
        """Run the units in order, stopping at the first failure (which is raised)."""
        if not units:
            return []
        setup = self.setup_steps()
        if setup:
            self.driver.run_atomic(setup)
        return [self._run(unit, lock) for unit in units]

    def _run(self, unit: Unit, lock: MigrationLock | None) -> Result:
        verb = "applying" if unit.direction == "up" else "rolling back"
        log.debug("%s %s (%s, %d statements)", verb, unit.label, unit.path, unit.statement_count)
        if unit.section is not None:
            for stmt in unit.section.statements:
                log.debug("  %s:%d: %s", unit.path, stmt.line, " ".join(stmt.sql.split())[:200])
        started_wall = _utc_now()
        started = time.perf_counter()
        renew = lock.renew_step() if lock else None
        held = True
        if renew is not None and unit.streamed:
            # a streamed unit returns no rows: renew (and check) the lease on its own first
            held = bool(self.driver.run_atomic([renew])[0])
            renew = None
        guarded = self._guarded(unit)
        calls = self.unit_calls(unit, renew, guarded)
        offset = (1 if renew else 0) + 2  # renewal, log row, guarded move
        try:
            rows = self._atomic(unit, calls[0][1], offset, guarded)
            if not unit.transaction:
                self._each(unit, calls[1][1], guarded)
                self.driver.run_atomic(list(calls[2][1]))
        except MigrationFileError as exc:  # a streamed file changed while being applied
            elapsed = (time.perf_counter() - started) * 1000
            failed = MigrationFailed(
                unit.version, unit.path, exc.line, None, exc.reason, direction=unit.direction
            )
            self._log_failure(unit, started_wall, elapsed, exc.reason)
            raise failed from None
        except MigrationFailed as exc:
            elapsed = (time.perf_counter() - started) * 1000
            self._log_failure(unit, started_wall, elapsed, exc.db_message)
            raise
        elapsed = (time.perf_counter() - started) * 1000
        done = "applied" if unit.direction == "up" else "rolled back"
        log.info("%s %s in %.0f ms", done, unit.label, elapsed)
        if renew is not None:
            held = bool(rows and rows[0])
        if lock is not None and not held:
            raise LockLost(
                f"lost the migration lock while running (its lease of {lock.ttl} s expired and"
                f" another run took it); stopped after {unit.label}, which completed. Raise"
                " lock_ttl above your longest migration"
            )
        return Result(unit.version, unit.name, unit.direction, unit.statement_count, elapsed)

    def _atomic(
        self,
        unit: Unit,
        steps: Iterable[Step],
        offset: int,
        guarded: GuardedStatements | None = None,
    ) -> list[list[tuple]]:
        fk_off = {"foreign_keys_off": True} if unit.foreign_keys_off and unit.transaction else {}
        try:
            if unit.streamed and unit.transaction:
                self.driver.run_atomic_iter(steps, **fk_off)
                return []
            return self.driver.run_atomic(list(steps), **fk_off)
        except StatementError as exc:
            if exc.index == offset - 1 and GUARD in exc.message:
                raise self._conflict(unit) from None
            if unit.transaction:
                raise self._failure(
                    unit, exc, exc.index - offset, partial=False, guarded=guarded
                ) from exc
            raise self._failure(unit, exc, -1, partial=False) from exc
        except DatabaseError as exc:  # e.g. COMMIT refused a deferred foreign key
            raise MigrationFailed(
                unit.version, unit.path, None, None, exc.message, direction=unit.direction
            ) from exc

    def _each(
        self, unit: Unit, steps: Iterable[Step], guarded: GuardedStatements | None = None
    ) -> None:
        """transaction:false: each statement commits on its own (in bounded chunks)."""
        done = 0
        iterator = iter(steps)
        while chunk := list(itertools.islice(iterator, EACH_CHUNK)):
            try:
                self.driver.run_each(chunk)
            except StatementError as exc:
                index = done + exc.index
                raise self._failure(unit, exc, index, partial=True, guarded=guarded) from exc
            done += len(chunk)

    def _conflict(self, unit: Unit) -> MigrationFailed:
        before = " or ".join(TRANSITIONS[unit.direction][0])
        state = "pending or " + before if unit.direction == "up" else before
        return MigrationFailed(
            unit.version, unit.path, None, None,
            f"another run changed this migration's state meanwhile (it is no longer {state});"
            " nothing of it was run. See `invoke migrate.status`",
            direction=unit.direction,
        )  # fmt: skip

    def _failure(
        self,
        unit: Unit,
        exc: StatementError,
        index: int,
        *,
        partial: bool,
        guarded: GuardedStatements | None = None,
    ) -> MigrationFailed:
        if guarded is not None and index >= 0:  # step index -> statement index
            index, added = guarded.locate(index)
            if added is not None:
                return self._check_failed(unit, added, exc)
        stmt = self._statement_at(unit, index) if index >= 0 else None
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
            f"writing the tracking table {self.ledger.table} failed: {exc.message}",
            direction=unit.direction,
        )  # fmt: skip

    @staticmethod
    def _statement_at(unit: Unit, index: int) -> Statement | None:
        """The index-th statement (a streamed file is read again, only after a failure)."""
        try:
            return next(itertools.islice(unit.statements(), index, None), None)
        except MigrationFileError:
            return None

    def _log_failure(self, unit: Unit, started_at: str, elapsed: float, error: str) -> None:
        try:
            self.driver.run_atomic(
                self.ledger.failure_steps(
                    unit.version, unit.name, unit.direction, self.actor,
                    started_at, round(elapsed), error,
                )
            )  # fmt: skip
        except MigrateError as exc:  # the migration's own error is the one to report
            log.warning("could not write the failure to %s: %s", self.ledger.log_table, exc)

    # -- repair and unlock ----------------------------------------------------------------

    def repair(self, version: str, status: str, options: RunOptions) -> Outcome:
        """Record what an operator fixed by hand: a failed (or modified) migration's state."""
        rows = {r.version: r for r in self.status()}
        row = rows.get(version)
        if row is None or row.state not in (FAILED, MODIFIED):
            state = row.state if row else "unknown"
            raise UsageError(
                f"migration {version} is {state}: repair records the outcome of a failed"
                " migration (or accepts the edit of a modified one); nothing to repair"
            )
        if row.state == MODIFIED and status != "applied":
            raise UsageError(
                f"migration {version} is applied but modified: use --applied to accept the"
                " edited file, or `invoke migrate.down` to roll it back"
            )
        file = self.files().get(version)
        if file is None and status == "applied":
            raise UsageError(f"cannot record {version} as applied: its file is missing")
        record = self.records()[version]
        digest = self._checksum(version) if file else record.checksum
        note = f"repair: {row.state} -> {status}"
        steps = self.ledger.repair_steps(version, row.name, digest, status, self.actor, note)
        outcome = Outcome("repair")
        if options.dry_run:
            outcome.calls = [("atomic", steps)]
            return outcome
        if options.confirm and not options.confirm(
            f"record migration {version}_{row.name} as {status.replace('_', ' ')}"
        ):
            raise UsageError("aborted: nothing was changed")
        with self.locked(options):
            self.driver.run_atomic(steps)
        log.info("recorded %s_%s as %s (was %s)", version, row.name, status, row.state)
        return outcome

    def holder(self) -> Holder | None:
        if self.ledger.lock_table not in self.ledger.existing_tables(self.driver):
            return None
        return self.ledger.read_lock(self.driver)

    def unlock(self, options: RunOptions) -> Holder | None:
        """Release a stale lock whoever holds it; returns the holder that was released."""
        holder = self.holder()
        if holder is None:
            return None
        if options.dry_run:
            return holder
        if options.confirm and not options.confirm(
            f"release the migration lock held by {holder.describe()}"
        ):
            raise UsageError("aborted: nothing was changed")
        self.driver.run_atomic([self.ledger.force_release_step()])
        log.warning("released the migration lock held by %s", holder.describe())
        return holder


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
