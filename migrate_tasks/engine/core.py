"""Runs plans through a driver: one atomic unit per migration, statements and record together.

Data flow for ``up``: file names -> read the tracking tables and the lease (one round
trip) -> parse and check every file not applied with its current checksum (a malformed
file stops us before anything is written) -> problems? refuse -> pure plan -> take the
lock in one transaction that also creates the tracking tables and reads the history
again from the primary (someone may have migrated while we waited) -> plan again -> for
each migration one driver call holding the lease renewal, the log row, the guarded
tracking-row move, the statements and the closing rows -> release -> results. Over HTTP:
N + 3 requests for N migrations; ``--single-transaction``: 3.
The engine returns result objects; presentation lives in ``report``.
"""

from __future__ import annotations

import bisect
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
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Driver, Step
from migrate_tasks.engine.plan import (
    APPLIED,
    FAILED,
    INVALID,
    MODIFIED,
    OUT_OF_ORDER,
    PENDING,
    REFUSED,
    ROLLED_BACK,
    FileInfo,
    Plan,
    Problem,
    StatusRow,
    no_op_warning,
    plan_down,
    plan_up,
    state_problems,
    status_rows,
)
from migrate_tasks.engine.tracking import (
    GUARD,
    LOCK_LOST,
    TRANSITIONS,
    UNREAD,
    Actor,
    Holder,
    Ledger,
    Record,
    Snapshot,
    is_replica,
)
from migrate_tasks.errors import (
    AuthFailed,
    CheckFailed,
    DatabaseError,
    LockLost,
    MigrateError,
    MigrationFailed,
    MigrationFileError,
    StatementError,
    UsageError,
)
from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES, MigrationFile, checksum, scan
from migrate_tasks.progname import command

# Parsing, the libSQL checks and the lock are imported where they are used: status and
# a no-op up never need them, and every millisecond of start-up shows in CI logs.
if TYPE_CHECKING:
    from migrate_tasks.engine.checks import Added, GuardedStatements, Reference
    from migrate_tasks.engine.lock import MigrationLock
    from migrate_tasks.engine.refusals import Refused
    from migrate_tasks.files.parser import ParsedMigration, Section, Statement
    from migrate_tasks.files.stream import FileSummary, SectionInfo

log = logging.getLogger("migrate_tasks")

# ("atomic" | "each" | "connection", steps), in the order they are sent; "connection":
# on the unit's own connection, outside any transaction (the foreign_keys pragmas)
Calls = list[tuple[str, Iterable[Step]]]
EACH_CHUNK = 1000
_UNPROBED = object()


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
        from migrate_tasks.files.stream import iter_statements

        assert self.file is not None
        return iter_statements(
            self.file,
            self.path,
            self.direction,
            checksum=self.checksum,
            index=self.info.index if self.info is not None else None,
        )


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
        self._bigs: set[str] = set()
        self._units: dict[tuple[str, str], Unit] = {}
        self._summaries: dict[str, FileSummary] = {}
        self._parsed_files: dict[str, ParsedMigration] = {}
        self._checksums: dict[str, str] = {}
        self._replica: bool | object | None = _UNPROBED
        #: The history as ``migrate`` first read it (before the lock), for ``jsonrun``.
        self.initial_records: dict[str, Record] | None = None
        #: What the last ``validate`` found worth saying that is no problem.
        self.warnings: list[str] = []

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
        """Over the streaming threshold; a small file is read (and kept) on the way."""
        if version in self._data:
            return False
        if version not in self._bigs:
            try:
                data = self._scan()[0][version].read_small(STREAM_THRESHOLD_BYTES)
            except MigrationFileError:
                return False  # reading it again will report the problem
            if data is None:
                self._bigs.add(version)
            else:
                self._data[version] = data
        return version in self._bigs

    def _summary(self, version: str) -> FileSummary:
        """One streaming pass over a big file: every parser check, and its checksum."""
        if version not in self._summaries:
            from migrate_tasks.files.stream import scan_file

            file = self._scan()[0][version]
            self._summaries[version] = scan_file(file.path, file.display)
        return self._summaries[version]

    def _parsed(self, version: str) -> ParsedMigration:
        """A small file, parsed once per run (``up`` checks every file before and again
        under the lock, then prepares the planned ones)."""
        if version not in self._parsed_files:
            from migrate_tasks.files.parser import parse_migration

            file = self._scan()[0][version]
            self._parsed_files[version] = parse_migration(self._bytes(version), file.display)
        return self._parsed_files[version]

    def _checksum(self, version: str) -> str:
        if version not in self._checksums:
            if not self._big(version):
                self._checksums[version] = checksum(self._bytes(version))
            elif version in self._summaries:
                self._checksums[version] = self._summaries[version].checksum
            else:  # hashing a big file is enough: parsing it waits until it must run
                self._checksums[version] = self._scan()[0][version].checksum()
        return self._checksums[version]

    def file_infos(self, files: Iterable[MigrationFile] | None = None) -> list[FileInfo]:
        chosen = self.files().values() if files is None else files
        return [FileInfo(f.version, f.name, self._checksum(f.version)) for f in chosen]

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
        ``replica``), in the same round trip over HTTP."""
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

    def file_errors(self, skip: Iterable[str] = ()) -> list[MigrationFileError]:
        """Every bad name, duplicate version and unparseable file; reads no database.
        ``skip``: versions not to parse (applied, with the checksum recorded then)."""
        files, errors = self._scan()
        errors = list(errors)
        skipped = set(skip)
        for file in files.values():
            if file.version in skipped:
                continue
            try:
                if self._big(file.version):
                    self._summary(file.version)
                else:
                    self._parsed(file.version)
            except MigrationFileError as exc:
                errors.append(exc)
        return errors

    def validate(self) -> list[Problem]:
        """Everything that makes files and history disagree, and everything ``up`` or
        ``down`` would refuse before reading the database's contents, without stopping
        at the first. Warnings that are no problem (``no_op_warning``) are left in
        ``self.warnings``."""
        problems = [Problem(INVALID, None, str(e)) for e in self.file_errors()]
        infos = self.file_infos(self._scan()[0].values())  # without raising on bad names
        rows = status_rows(infos, self.records())
        problems.extend(Problem(REFUSED, v, str(e)) for v, e in self.target_refusals(rows))
        problems.extend(state_problems(rows))
        self.warnings = self._no_op_warnings(
            r.version for r in rows if r.state in (PENDING, ROLLED_BACK)
        )
        return problems

    def _no_op_warnings(self, versions: Iterable[str]) -> list[str]:
        """For files already parsed: those whose up section has only comments."""
        found = []
        for version in versions:
            parsed, summary = self._parsed_files.get(version), self._summaries.get(version)
            count = (
                len(parsed.up.statements) if parsed
                else summary.up.statement_count if summary and summary.up
                else None
            )  # fmt: skip
            if count == 0:
                file = self._scan()[0][version]
                found.append(no_op_warning(f"{version}_{file.name}", file.display))
        return found

    def target_refusals(self, rows: Iterable[StatusRow]) -> list[tuple[str, Refused]]:
        """What this target refuses (``compat``) in the sections ``up`` and ``down`` may
        still run: the up section of every migration not applied, every down section.
        The first refusal of each section, exactly as ``up``/``down`` would raise it. A
        DROP of a referenced table depends on the database's tables, so only ``up``
        finds it (``guards.ReferenceCheck``)."""
        from migrate_tasks.engine.refusals import Refused

        found: list[tuple[str, Refused]] = []
        for row in rows:
            if not row.has_file:
                continue
            settled = row.state in (APPLIED, MODIFIED)  # its up section never runs again
            for direction in ("down",) if settled else ("up", "down"):
                try:
                    self._check_section(row.version, direction)
                except Refused as refused:
                    found.append((row.version, refused))
                except MigrationFileError:
                    pass  # a file that does not parse is reported by file_errors
        return found

    # -- writing --------------------------------------------------------------------------

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
        takes the lease and re-reads the history from the primary, one per migration,
        one to release the lease. ``single_transaction`` (up only): every migration in
        ONE transaction, which also releases the lease, so three in all.
        """
        options = options or RunOptions()
        if single_transaction and direction != "up":
            raise UsageError("--single-transaction is for up only")

        def make_plan(records: Mapping[str, Record]) -> Plan:
            rows = self._checked_rows(direction, allow_out_of_order, records)
            if direction == "up":
                return plan_up(rows, step=step, to=to)
            return plan_down(rows, step=step, to=to, all_=all_)

        self._raise_name_problems()  # exit 2 before the database is even read
        snapshot = self.read_state(lock=True)
        self.initial_records = snapshot.records
        plan = make_plan(snapshot.records)
        for warning in plan.warnings:
            log.warning("%s", warning)
        units = self.prepare(plan, single=single_transaction)
        no_ops = self._no_op_warnings(u.version for u in units if u.direction == "up")
        for warning in no_ops:
            log.warning("%s", warning)
        outcome = Outcome(direction, units, warnings=[*plan.warnings, *no_ops])
        if not outcome.units:
            return outcome
        if options.dry_run:
            outcome.calls = self._preview(outcome.units, options.lock_ttl, single_transaction)
            return outcome
        if options.confirm is not None:
            verb = "apply" if direction == "up" else "roll back"
            listing = ", ".join(u.label for u in outcome.units)
            if not options.confirm(f"{verb} {len(outcome.units)} migration(s): {listing}"):
                raise UsageError("aborted: nothing was changed")
        lock = self._lock(options.lock_timeout, options.lock_ttl)
        setup = self.ledger.create_steps()
        reads = self.ledger.snapshot_steps()
        references = [] if single_transaction else self._references_for(outcome.units[0])
        rows = lock.acquire([*setup, *reads, *references], holder=snapshot.holder)
        try:
            # again, under the lock, from the primary: someone may have migrated meanwhile
            fresh = self.ledger.parse_snapshot(rows[len(setup) : len(setup) + len(reads)])
            outcome.units = self.prepare(make_plan(fresh.records), single=single_transaction)
            if single_transaction:
                outcome.results = self._apply_single(outcome.units, lock)
            else:
                known = _references(rows[-1]) if references else None
                outcome.results = self.apply(
                    outcome.units, lock, tables_ready=True, references=known
                )
        finally:
            lock.release()
        return outcome

    def _raise_name_problems(self) -> None:
        _files, problems = self._scan()
        if problems:
            raise problems[0]

    def _checked_rows(
        self, direction: str, allow_out_of_order: bool, records: Mapping[str, Record]
    ) -> list[StatusRow]:
        """Status rows, after refusing on any problem that makes running unsafe: for up,
        first every file that does not parse (exit 2). A file applied with the checksum
        it has now is not parsed again: it parsed when it was applied (``repair``
        records only files that parse), and up never runs it."""
        if direction == "up":
            infos = self.file_infos()
            current = {f.version: f.checksum for f in infos}
            settled = [
                v
                for v, r in records.items()
                if r.status == APPLIED and current.get(v) == r.checksum
            ]
            errors = self.file_errors(skip=settled)
            if errors:
                raise errors[0]
            rows = status_rows(infos, records)
            blocking = [
                p
                for p in state_problems(rows)
                if not (allow_out_of_order and p.kind == OUT_OF_ORDER)
            ]
        else:
            rows = status_rows(self.file_infos(), records)
            blocking = [p for p in state_problems(rows) if p.kind == FAILED]
        if blocking:
            raise CheckFailed(
                f"refusing to migrate {direction}: " + "; ".join(p.message for p in blocking)
            )
        return rows

    def prepare(self, plan: Plan, *, single: bool = False) -> list[Unit]:
        """Parse every file the plan touches; raises before anything is written.
        ``single``: refuse what cannot join one transaction (``--single-transaction``)."""
        units = []
        for version in plan.versions:
            known = self._units.get((version, plan.direction))
            if known is not None:  # prepared before the lock; the files are the same
                if single:
                    self._check_single(known)
                units.append(known)
                continue
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
            if single:
                self._check_single(unit)
            self._check_target(unit)
            self._units[version, plan.direction] = unit
            units.append(unit)
        return units

    # -- libSQL specifics (docs/libsql.md): compat refusals, FK and ALTER COLUMN checks ---

    def _check_target(self, unit: Unit) -> None:
        """Refuse what this target cannot run (``compat``), before anything runs. A
        streamed unit's statements are checked as they are read (see ``_guarded``)."""
        from migrate_tasks.engine.refusals import Refused, Target, check_section, options_problem

        target = Target.of(self.driver)
        if unit.section is not None:
            check_section(
                unit.path, unit.header_line, unit.options, unit.section.statements,
                target=target,
            )  # fmt: skip
        elif problem := options_problem(unit.options, target=target):
            raise Refused(unit.path, unit.header_line, problem)

    def _check_section(self, version: str, direction: str) -> None:
        """``_check_target`` on a section, statements of a big file included (``up``
        checks those as it streams them): raises ``Refused``."""
        from migrate_tasks.engine.refusals import Target, check_section

        target = Target.of(self.driver)
        file = self._scan()[0][version]
        if not self._big(version):
            section = getattr(self._parsed(version), direction)
            if section is not None:
                check_section(
                    file.display, section.line, section.options, section.statements,
                    target=target,
                )  # fmt: skip
            return
        from migrate_tasks.files.stream import iter_statements

        summary = self._summary(version)
        info = getattr(summary, direction)
        if info is not None:
            statements = iter_statements(
                file.path, file.display, direction, checksum=summary.checksum, index=info.index
            )
            check_section(file.display, info.line, info.options, statements, target=target)

    def _guarded(
        self, unit: Unit, *, references: bool = True, known: list[Reference] | None = None
    ) -> GuardedStatements:
        """The unit's statements plus libSQL's checks (``guards``). Refusals (a DROP of a
        referenced table, statements the target cannot run) come before anything of the
        unit runs; for a streamed transactional unit, as its statements are read, which
        rolls its transaction back."""
        from migrate_tasks.engine.checks import GuardedStatements, ReferenceCheck, read_references
        from migrate_tasks.engine.refusals import Target, check_statement

        header = f"-- migrate:{unit.direction}"

        def load() -> list[Reference]:
            return known if known is not None else read_references(self.driver)

        check_references = ReferenceCheck(load, unit.path, header)

        # Looked up once: check() runs for every statement of a streamed unit.
        streamed, path, target, transaction = (
            unit.streamed, unit.path, Target.of(self.driver), unit.transaction
        )  # fmt: skip
        follow = references and not unit.foreign_keys_off  # else: the final FK check decides

        def check(statement: Statement) -> None:
            if streamed:  # in-memory units passed compat in prepare()
                check_statement(path, statement, target=target, transaction=transaction)
            if follow:
                check_references(statement)

        if unit.streamed and unit.transaction:
            return GuardedStatements(
                unit.statements(), foreign_keys_off=unit.foreign_keys_off, check=check
            )
        for statement in unit.statements():  # cheap in memory; rare for a big file
            check(statement)
        return GuardedStatements(unit.statements(), foreign_keys_off=unit.foreign_keys_off)

    def _check_failed(self, unit: Unit, added: Added, exc: StatementError) -> MigrationFailed:
        """One of the checks ``guards`` added found a problem; say which, and where."""
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
    def locked(
        self, options: RunOptions, *, holder: Holder | object | None = UNREAD
    ) -> Iterator[MigrationLock]:
        """Hold the migration lock in the block. ``holder``: the lease as just read
        (``read_state(lock=True).holder``), which saves the lock its own first read."""
        lock = self._lock(options.lock_timeout, options.lock_ttl)
        lock.acquire(holder=holder)
        try:
            yield lock
        finally:
            lock.release()

    def _lock(self, timeout: float, ttl: int) -> MigrationLock:
        from migrate_tasks.engine.lock import MigrationLock

        return MigrationLock(self.driver, self.ledger, self.actor, timeout=timeout, ttl=ttl)

    def setup_steps(self) -> list[Step]:
        """Tracking-table DDL, needed only when the tables do not exist yet."""
        existing = self.ledger.existing_tables(self.driver)
        if {self.ledger.table, self.ledger.log_table} <= existing:
            return []
        return self.ledger.create_steps()

    def unit_calls(
        self,
        unit: Unit,
        renew: Step | None = None,
        guarded: GuardedStatements | None = None,
        then: Sequence[Step] = (),
    ) -> Calls:
        """The driver calls one unit makes, in order: ("atomic" | "each", steps).

        Statements are produced lazily, so a streamed unit never sits in memory whole.
        ``then``: reads for the next unit, at the end of this one's last transaction.
        """
        opening = [
            *([renew] if renew else []),
            *self.ledger.begin_steps(
                unit.version, unit.name, unit.checksum, unit.direction, self.actor,
                transaction=unit.transaction,
            ),
        ]  # fmt: skip
        if guarded is None:
            from migrate_tasks.engine.checks import GuardedStatements

            guarded = GuardedStatements(unit.statements(), foreign_keys_off=unit.foreign_keys_off)
        statements = iter(guarded)
        closing = [*self.ledger.finish_steps(unit.version, unit.direction), *then]
        if unit.transaction:
            return [("atomic", itertools.chain(opening, statements, closing))]
        return [("atomic", opening), ("each", statements), ("atomic", closing)]

    def _preview(self, units: Sequence[Unit], ttl: int, single: bool = False) -> Calls:
        """Exactly what a real run would send, built by the same functions."""
        lock = self._lock(0, ttl)
        setup = [*self.ledger.create_steps(), *self.ledger.snapshot_steps()]
        if single:
            calls: Calls = [("atomic", lock.attempt_steps(setup))]
            return [*calls, ("atomic", self._single_steps(units, lock).steps)]
        calls = [("atomic", lock.attempt_steps([*setup, *self._references_for(units[0])]))]
        for unit, after in itertools.zip_longest(units, units[1:]):
            then = () if unit.streamed and unit.transaction else self._references_for(after)
            unit_calls = self.unit_calls(unit, lock.renew_step(), then=then)
            if unit.foreign_keys_off:  # on the transaction's connection, outside it
                off, on = Step("PRAGMA foreign_keys=OFF"), Step("PRAGMA foreign_keys=ON")
                unit_calls = [("connection", [off]), *unit_calls, ("connection", [on])]
            calls.extend(unit_calls)
        calls.append(("atomic", [self.ledger.release_step(lock.owner)]))
        return calls

    def apply(
        self,
        units: list[Unit],
        lock: MigrationLock | None = None,
        *,
        tables_ready: bool = False,
        references: list[Reference] | None = None,
    ) -> list[Result]:
        """Run the units in order, stopping at the first failure (which is raised).
        ``tables_ready``: the tracking tables exist (the lock's transaction made them).
        ``references``: the database's foreign keys as the first unit finds them (read
        in the lock's transaction). A unit whose DROP/ALTER needs them for the next one
        reads them at the end of its own transaction, so that costs no round trip."""
        if not units:
            return []
        if not tables_ready:
            setup = self.setup_steps()
            if setup:
                self.driver.run_atomic(setup)
        results = []
        for unit, after in itertools.zip_longest(units, units[1:]):
            then = () if unit.streamed and unit.transaction else self._references_for(after)
            result, rows = self._run(unit, lock, references, then)
            results.append(result)
            references = _references(rows[-1]) if then and rows else None
        return results

    def _references_for(self, unit: Unit | None) -> list[Step]:
        """The read of every foreign key, if ``unit`` will check a DROP or RENAME against
        them (``guards.ReferenceCheck``); for the call before it to carry."""
        if unit is None or unit.section is None or unit.foreign_keys_off:
            return []
        if not any(s.sql[:5].upper() in ("DROP ", "ALTER") for s in unit.section.statements):
            return []
        from migrate_tasks.engine.checks import REFERENCES_SQL

        return [Step(REFERENCES_SQL)]

    # -- --single-transaction -------------------------------------------------------------

    def _check_single(self, unit: Unit) -> None:
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

    def _single_steps(self, units: Sequence[Unit], lock: MigrationLock) -> _Single:
        """Every unit's steps in one transaction: the lease (renewed, and checked: nothing
        commits without it), then per unit the log row, the guarded move, its statements
        and closing rows, and finally the release of the lease. Produced lazily."""
        single = _Single(units)

        def produce() -> Iterator[Step]:
            yield from single.part(
                -1, "lock", [lock.renew_step(), self.ledger.lock_guard_step(lock.owner)]
            )
            for n, unit in enumerate(units):
                yield from single.part(n, "begin", self.ledger.begin_steps(
                    unit.version, unit.name, unit.checksum, unit.direction, self.actor,
                ))  # fmt: skip
                checks = _DropChecks(self._guarded(unit, references=False))
                single.checks.append(checks)
                yield from single.part(n, "statements", checks)
                yield from single.part(
                    n,
                    "finish",
                    self.ledger.finish_steps(unit.version, unit.direction, returning=True),
                )
            yield from single.part(-1, "release", [self.ledger.release_step(lock.owner)])

        single.steps = produce()
        return single

    def _apply_single(self, units: list[Unit], lock: MigrationLock) -> list[Result]:
        """All the units in ONE transaction (with the lease's release): all or nothing."""
        if not units:
            return []
        log.info("applying %d migration(s) in one transaction", len(units))
        for unit in units:
            log.debug("%s %s (%s)", "applying", unit.label, unit.path)
        single = self._single_steps(units, lock)
        started_wall = _utc_now()
        started = time.perf_counter()
        rows: list[list[tuple]] | None = None
        try:
            if any(u.streamed for u in units):
                self.driver.run_atomic_iter(single.steps)
            else:
                rows = self.driver.run_atomic(list(single.steps))
        except (StatementError, MigrationFileError, DatabaseError) as exc:
            elapsed = (time.perf_counter() - started) * 1000
            unit, failure = self._single_failure(single, exc)
            if unit is not None and isinstance(failure, MigrationFailed):
                self._log_failure(unit, started_wall, elapsed, failure.db_message)
            if not isinstance(failure, LockLost):
                note = (
                    f"nothing of the other {len(units) - 1} pending migration(s) was applied either"
                    if unit is not None
                    else f"none of the {len(units)} pending migration(s) was applied"
                )
                failure.args = (f"{failure}\n  --single-transaction: {note}",)
            raise failure from None
        lock.held = False  # released by the transaction itself
        elapsed = (time.perf_counter() - started) * 1000
        results = []
        for n, unit in enumerate(units):
            measured = rows[single.start(n, "finish") + 1] if rows else None
            ms = (
                float(measured[0][0])
                if measured and measured[0][0] is not None
                else elapsed / len(units)
            )
            log.info("applied %s in %.0f ms (in the one transaction)", unit.label, ms)
            results.append(
                Result(unit.version, unit.name, unit.direction, unit.statement_count, ms)
            )
        log.info("committed %d migration(s) in one transaction in %.0f ms", len(units), elapsed)
        return results

    def _single_failure(
        self, single: _Single, exc: MigrateError
    ) -> tuple[Unit | None, MigrateError]:
        """Which unit (and statement) a failure of the one transaction belongs to."""
        if isinstance(exc, MigrationFileError):  # a streamed file changed while applied
            n = single.current()
            unit = single.units[n] if n >= 0 else single.units[-1]
            return unit, MigrationFailed(
                unit.version, unit.path, exc.line, None, exc.reason, direction=unit.direction
            )
        if not isinstance(exc, StatementError):
            # not one migration's fault: COMMIT refused (a deferred foreign key), or sqld
            # ended the transaction (its message says why); nothing of it was applied
            assert isinstance(exc, DatabaseError)
            return None, DatabaseError(f"the one transaction failed: {exc.message}", exc.code)
        n, part, offset = single.locate(exc.index)
        if part == "lock" or n < 0:
            if LOCK_LOST in exc.message:
                return None, LockLost(
                    "lost the migration lock before the transaction started (its lease"
                    " expired and another run took it); nothing was applied. Raise lock_ttl"
                    " above the time a run takes"
                )
            return None, DatabaseError(
                f"the migration lock could not be renewed: {exc.message}", exc.code
            )
        unit = single.units[n]
        if part == "begin" and offset == 1 and GUARD in exc.message:
            return unit, self._conflict(unit)
        if part != "statements":
            return unit, self._failure(unit, exc, -1, partial=False)
        checks = single.checks[n]
        inner, drop = checks.locate(offset)
        if drop:
            return unit, self._refused_drop(unit, checks, inner, exc)
        return unit, self._failure(unit, exc, inner, partial=False, guarded=checks.guarded)

    def _refused_drop(
        self, unit: Unit, checks: _DropChecks, inner: int, exc: StatementError
    ) -> MigrateError:
        """The in-transaction reference check before a DROP TABLE found referencing
        tables: the same refusal as a migration run on its own gets before it starts."""
        from migrate_tasks.engine.checks import Reference, ReferenceCheck, check_failure
        from migrate_tasks.engine.refusals import Refused
        from migrate_tasks.sql.shapes import schema_change

        index, _added = checks.guarded.locate(inner)
        statement = self._statement_at(unit, index)
        found = check_failure(exc.message)
        if statement is None or found is None or found[0] != REFERENCED_DROP:
            return self._failure(unit, exc, index, partial=False, guarded=None)
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
        return self._failure(unit, exc, index, partial=False, guarded=None)

    def _run(
        self,
        unit: Unit,
        lock: MigrationLock | None,
        references: list[Reference] | None = None,
        then: Sequence[Step] = (),
    ) -> tuple[Result, list[list[tuple]]]:
        """Run one unit; its result, and the rows of ``then`` (read at the end of its
        last transaction; empty for a streamed unit, which returns no rows)."""
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
        guarded = self._guarded(unit, known=references)
        calls = self.unit_calls(unit, renew, guarded, then)
        offset = (1 if renew else 0) + 2  # renewal, log row, guarded move
        try:
            rows = self._atomic(unit, calls[0][1], offset, guarded)
            after = rows[len(rows) - len(then) :] if then and rows else []
            if not unit.transaction:
                self._each(unit, calls[1][1], guarded)
                after = self.driver.run_atomic(list(calls[2][1]))[2:]
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
        result = Result(unit.version, unit.name, unit.direction, unit.statement_count, elapsed)
        return result, after

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
            f" nothing of it was run. See `{command('status')}`",
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
        snapshot = self.read_state(lock=True)
        records = snapshot.records
        rows = {r.version: r for r in status_rows(self.file_infos(), records)}
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
                f" edited file, or `{command('down')}` to roll it back"
            )
        file = self.files().get(version)
        if file is None and status == "applied":
            raise UsageError(f"cannot record {version} as applied: its file is missing")
        if file is not None and status == "applied":
            # ``up`` trusts a file applied with its current checksum to parse: keep it so
            errors = self.file_errors(skip=set(self.files()) - {version})
            if errors:
                raise errors[0]
        digest = self._checksum(version) if file else records[version].checksum
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
        with self.locked(options, holder=snapshot.holder):
            self.driver.run_atomic(steps)
        log.info("recorded %s_%s as %s (was %s)", version, row.name, status, row.state)
        return outcome

    def holder(self) -> Holder | None:
        return self.read_state(lock=True).holder

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


def _references(rows: Sequence[tuple]) -> list[Reference]:
    """``guards.REFERENCES_SQL`` rows -> references (as ``guards.read_references``)."""
    from migrate_tasks.engine.checks import Reference

    return [Reference(str(c), str(p), str(a or "NO ACTION")) for c, p, a in rows]


#: In the error of ``drop_reference_check``: the tables that reference the dropped one.
REFERENCED_DROP = "referenced_drop"


def drop_reference_check(table: str) -> Step:
    """Before a ``DROP TABLE`` in a --single-transaction run: fail (naming them) if other
    tables reference ``table`` at this point of the transaction. A migration run on its
    own gets this check before it starts (``guards.ReferenceCheck``), from the database
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


class _DropChecks:
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


class _Single:
    """The steps of a --single-transaction run, and where each part of each unit starts
    (recorded as the steps are produced, so a streamed unit is never held)."""

    def __init__(self, units: Sequence[Unit]) -> None:
        self.units = list(units)
        self.steps: Iterable[Step] = ()
        self.checks: list[_DropChecks] = []
        self._marks: list[tuple[int, int, str]] = []  # (first step index, unit, part)
        self._starts: dict[tuple[int, str], int] = {}
        self._count = 0

    def part(self, unit: int, name: str, steps: Iterable[Step]) -> Iterator[Step]:
        self._marks.append((self._count, unit, name))
        self._starts[unit, name] = self._count
        for step in steps:
            yield step
            self._count += 1

    def current(self) -> int:
        return self._marks[-1][1] if self._marks else -1

    def start(self, unit: int, name: str) -> int:
        return self._starts[unit, name]

    def locate(self, index: int) -> tuple[int, str, int]:
        """Step ``index`` -> (unit, part, index within the part)."""
        # the last part starting at or before index (an empty part is followed by one
        # with the same start, which wins)
        found = self._marks[bisect.bisect_right([m[0] for m in self._marks], index) - 1]
        return found[1], found[2], index - found[0]
