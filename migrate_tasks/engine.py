"""Runs plans through a driver: one atomic unit per migration, statements and record together.

Data flow for ``up``: files -> read ledger -> pure plan -> parse the files the plan
needs (any malformed file stops us before the first write) -> for each migration, one
driver call holding the log row, the statements and the tracking row -> results.
The engine returns result objects; presentation lives in ``report``.
"""

from __future__ import annotations

import getpass
import logging
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .drivers.base import Driver, Step
from .errors import (
    DatabaseError,
    MigrateError,
    MigrationFailed,
    MigrationFileError,
    StatementError,
)
from .ledger import Actor, Ledger, Record
from .parser import Section, parse_migration
from .plan import FileInfo, Plan, StatusRow, plan_down, plan_up, status_rows
from .source import MigrationFile, checksum, discover

log = logging.getLogger("migrate_tasks")


@dataclass(frozen=True)
class Unit:
    """One migration in one direction, parsed and ready to run."""

    version: str
    name: str
    path: str
    checksum: str
    direction: str
    section: Section


@dataclass(frozen=True)
class Result:
    version: str
    name: str
    direction: str
    statements: int
    duration_ms: float


def current_actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return Actor(user=user, host=socket.gethostname())


class Engine:
    """The migration operations over one database and one migrations folder."""

    def __init__(
        self, driver: Driver, directory: Path, table: str, actor: Actor | None = None
    ) -> None:
        self.driver = driver
        self.directory = Path(directory)
        self.ledger = Ledger(table)
        self.actor = actor or current_actor()
        self._files: dict[str, MigrationFile] | None = None
        self._data: dict[str, bytes] = {}

    # -- reading --------------------------------------------------------------------------

    def files(self) -> dict[str, MigrationFile]:
        if self._files is None:
            self._files = {f.version: f for f in discover(self.directory)}
        return self._files

    def _bytes(self, version: str) -> bytes:
        if version not in self._data:
            self._data[version] = self.files()[version].read()
        return self._data[version]

    def file_infos(self) -> list[FileInfo]:
        return [
            FileInfo(f.version, f.name, checksum(self._bytes(f.version)))
            for f in self.files().values()
        ]

    def records(self) -> dict[str, Record]:
        return self.ledger.read(self.driver)

    def status(self) -> list[StatusRow]:
        files = self.file_infos()  # read files before the database: bad names fail fast
        return status_rows(files, self.records())

    # -- planning -------------------------------------------------------------------------

    def plan(
        self,
        direction: str,
        *,
        step: int | None = None,
        to: str | None = None,
        all_: bool = False,
    ) -> Plan:
        rows = self.status()
        if direction == "up":
            return plan_up(rows, step=step, to=to)
        return plan_down(rows, step=step, to=to, all_=all_)

    def prepare(self, plan: Plan) -> list[Unit]:
        """Parse every file the plan touches; raises before anything is written."""
        units = []
        for version in plan.versions:
            file = self.files()[version]
            data = self._bytes(version)
            parsed = parse_migration(data, file.display)
            section = parsed.up if plan.direction == "up" else parsed.down
            if plan.direction == "down" and (section is None or not section.statements):
                raise MigrationFileError(
                    file.display,
                    section.line if section else None,
                    "no down statements, so this migration cannot be rolled back; write "
                    "them under '-- migrate:down' (use 'SELECT 1;' for a deliberate no-op)",
                )
            assert section is not None
            units.append(
                Unit(version, file.name, file.display, checksum(data), plan.direction, section)
            )
        return units

    def setup_steps(self) -> list[Step]:
        """Tracking-table DDL, needed only when the tables do not exist yet."""
        existing = self.ledger.existing_tables(self.driver)
        if {self.ledger.table, self.ledger.log_table} <= existing:
            return []
        return self.ledger.create_steps()

    def unit_steps(self, unit: Unit) -> list[Step]:
        """Everything one transactional unit sends: log row, statements, tracking row."""
        return [
            *self.ledger.begin_steps(unit.version, unit.name, unit.direction, self.actor),
            *(Step(s.sql) for s in unit.section.statements),
            *self.ledger.finish_steps(unit.version, unit.name, unit.checksum, unit.direction),
        ]

    def unit_calls(self, unit: Unit) -> list[tuple[str, list[Step]]]:
        """The driver calls a unit makes, in order: ("atomic" | "each", steps)."""
        if unit.section.transaction:
            return [("atomic", self.unit_steps(unit))]
        return [
            (
                "atomic",
                [
                    *self.ledger.begin_steps(unit.version, unit.name, unit.direction, self.actor),
                    *self.ledger.mark_failed_steps(unit.version, unit.name, unit.checksum),
                ],
            ),
            ("each", [Step(s.sql) for s in unit.section.statements]),
            (
                "atomic",
                self.ledger.finish_steps(unit.version, unit.name, unit.checksum, unit.direction),
            ),
        ]

    # -- running --------------------------------------------------------------------------

    def apply(self, units: list[Unit]) -> list[Result]:
        """Run the units in order, stopping at the first failure (which is raised)."""
        if not units:
            return []
        setup = self.setup_steps()
        if setup:
            self.driver.run_atomic(setup)
        results = []
        for unit in units:
            results.append(self._run(unit))
        return results

    def _run(self, unit: Unit) -> Result:
        verb = "applying" if unit.direction == "up" else "rolling back"
        log.debug("%s %s_%s (%s)", verb, unit.version, unit.name, unit.path)
        for stmt in unit.section.statements:
            log.debug("  %s:%d: %s", unit.path, stmt.line, " ".join(stmt.sql.split())[:200])
        started_wall = _utc_now()
        started = time.perf_counter()
        try:
            if unit.section.transaction:
                self._run_atomic(unit)
            else:
                self._run_each(unit)
        except MigrationFailed as exc:
            elapsed = (time.perf_counter() - started) * 1000
            self._log_failure(unit, started_wall, elapsed, exc.db_message)
            raise
        elapsed = (time.perf_counter() - started) * 1000
        done = "applied" if unit.direction == "up" else "rolled back"
        log.info("%s %s_%s in %.0f ms", done, unit.version, unit.name, elapsed)
        return Result(
            unit.version, unit.name, unit.direction, len(unit.section.statements), elapsed
        )

    def _run_atomic(self, unit: Unit) -> None:
        opening = len(self.ledger.begin_steps(unit.version, unit.name, unit.direction, self.actor))
        try:
            self.driver.run_atomic(self.unit_steps(unit))
        except StatementError as exc:
            raise self._failure(unit, exc, exc.index - opening, partial=False) from exc
        except DatabaseError as exc:  # e.g. COMMIT refused a deferred foreign key
            raise MigrationFailed(
                unit.version, unit.path, None, None, exc.message, direction=unit.direction
            ) from exc

    def _run_each(self, unit: Unit) -> None:
        """transaction:false: mark 'failed' first, so a crash midway is visible afterwards."""
        (_, opening), (_, statements), (_, closing) = self.unit_calls(unit)
        self.driver.run_atomic(opening)
        try:
            self.driver.run_each(statements)
        except StatementError as exc:
            raise self._failure(unit, exc, exc.index, partial=True) from exc
        self.driver.run_atomic(closing)

    def _failure(
        self, unit: Unit, exc: StatementError, index: int, *, partial: bool
    ) -> MigrationFailed:
        statements = unit.section.statements
        if 0 <= index < len(statements):
            stmt = statements[index]
            return MigrationFailed(
                unit.version,
                unit.path,
                stmt.line,
                stmt.sql,
                exc.message,
                direction=unit.direction,
                partial=partial,
            )
        return MigrationFailed(
            unit.version,
            unit.path,
            None,
            None,
            f"writing the tracking table {self.ledger.table} failed: {exc.message}",
            direction=unit.direction,
        )

    def _log_failure(self, unit: Unit, started_at: str, elapsed: float, error: str) -> None:
        try:
            self.driver.run_atomic(
                self.ledger.failure_steps(
                    unit.version,
                    unit.name,
                    unit.direction,
                    self.actor,
                    started_at,
                    round(elapsed),
                    error,
                )
            )
        except MigrateError as exc:  # the migration's own error is the one to report
            log.warning("could not write the failure to %s: %s", self.ledger.log_table, exc)


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
