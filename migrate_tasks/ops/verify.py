"""Prove, on a scratch database, that every migration's down undoes its up.

A down section is code that runs for the first time on the day it is needed. ``verify``
runs it beforehand, like goose's up-down-up helper, against an empty database:

1. apply every migration, one at a time, keeping the schema seen before and after each;
   then status must be clean;
2. newest first, for each migration: down (the schema must be exactly the one before its
   up), up again (it must apply, and give the same schema as the first time), down again;
3. apply everything again, and check the final schema and status once more.

A migration without down statements (dbmate's empty or comment-only down section, an
Alembic ``downgrade`` that passes) is irreversible: ``down`` refuses it, so verify applies
it and checks its up, but cannot roll it back, nor anything older on the same database.
The migrations older than it are verified on the database rebuilt from empty up to them
(emptied, then migrated up to the newest of them), so every reversible migration is
still proved. ``require_down`` makes an irreversible migration a problem instead.

Schemas are compared by what they mean to SQLite and its readers (``schemadiff``):
names exactly as stored, each table's columns in order (``SELECT *`` depends on it),
its constraints as a set (a down that rebuilds a table with its FOREIGN KEY clauses in
another order undoes the up faithfully), without our tracking tables, ``sqlite_*``
internals or libSQL vector shadow tables. A problem lists the differences and shows a
unified diff of the canonical schema text. Verification stops at the first problem:
what runs after it is not meaningful.
Everything goes through the ``Engine``, so each step is the same unit ``up``/``down``
would send, tracking rows and lock included.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from migrate_tasks.drivers.base import Driver, Step
from migrate_tasks.engine.core import Engine, RunOptions
from migrate_tasks.engine.plan import PROBLEM_STATES, Plan, state_problems, version_key
from migrate_tasks.errors import MigrationFailed, MigrationFileError, UsageError
from migrate_tasks.ops.dump import render_schema, unified_diff
from migrate_tasks.ops.schema import SchemaObject, read_schema
from migrate_tasks.ops.schemadiff import compare_schemas, describe_differences

log = logging.getLogger("migrate_tasks")

UP_FAILED = "up_failed"
DOWN_FAILED = "down_failed"
DOWN_MISMATCH = "down_mismatch"
REAPPLY_FAILED = "reapply_failed"
REAPPLY_MISMATCH = "reapply_mismatch"
NO_DOWN = "no_down"
STATUS_NOT_CLEAN = "status_not_clean"


@dataclass(frozen=True)
class VerifyProblem:
    """The first thing that went wrong; ``diff`` is a unified diff of canonical schemas
    (the message lists the differences that count)."""

    kind: str
    version: str | None
    name: str | None
    message: str
    diff: str = ""


@dataclass
class MigrationCheck:
    """What verify did with one migration (durations in ms, None when not run)."""

    version: str
    name: str
    up_ms: float | None = None
    down_ms: float | None = None
    reapply_ms: float | None = None
    verified: bool = False
    #: No down statements: applied and checked on the way up, never rolled back.
    irreversible: bool = False

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"


@dataclass
class VerifyResult:
    target: str
    temporary: bool
    migrations: list[MigrationCheck] = field(default_factory=list)
    problems: list[VerifyProblem] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


class _Stop(Exception):
    """Raised internally with the problem that ends verification."""

    def __init__(self, problem: VerifyProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@contextlib.contextmanager
def scratch_path() -> Iterator[str]:
    """A path for a temporary local database; the folder (and -wal, -journal) goes after."""
    folder = tempfile.mkdtemp(prefix="migrate-verify-")
    try:
        yield os.path.join(folder, "verify.db")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def prepare_database(driver: Driver, *, force: bool) -> None:
    """Refuse a database that holds anything (it may not be a throw-away one), unless
    ``force``: then drop every table, view and trigger in it first."""
    objects = read_schema(driver, None)
    if not objects:
        return
    names = ", ".join(o.name for o in objects[:5]) + (", ..." if len(objects) > 5 else "")
    if not force:
        raise UsageError(
            f"{driver.display_url} is not empty ({len(objects)} objects: {names}). verify"
            " applies and rolls back every migration, so it needs a throw-away database:"
            " give --url an empty one, leave --url out to use a temporary local file, or"
            " pass --force to DROP everything in this one first"
        )
    log.warning("--force: dropping %d objects in %s first", len(objects), driver.display_url)
    driver.run_atomic(wipe_steps([(o.type, o.name, o.sql) for o in objects]))


def wipe_steps(objects: list[tuple[str, str, str]]) -> list[Step]:
    """DROP statements for ``(type, name, sql)``: views, triggers, virtual tables, tables.

    Names come from the database itself and are quoted, never taken from input. Foreign
    keys are deferred so the order of the tables does not matter (all are gone at COMMIT).
    """
    order = {"view": 0, "trigger": 1, "table": 2}

    def rank(obj: tuple[str, str, str]) -> tuple[int, int]:
        virtual = obj[2].upper().startswith("CREATE VIRTUAL")
        return (order[obj[0]], 0 if virtual else 1)

    steps = [Step("PRAGMA defer_foreign_keys = ON")]
    for kind, name, _sql in sorted((o for o in objects if o[0] in order), key=rank):
        quoted = '"' + name.replace('"', '""') + '"'
        steps.append(Step(f"DROP {kind.upper()} IF EXISTS {quoted}"))
    return steps


class Verifier:
    """Runs the three phases over one engine; see the module docstring."""

    def __init__(
        self, engine: Engine, options: RunOptions, result: VerifyResult, *, require_down: bool
    ) -> None:
        self.engine = engine
        self.options = options
        self.result = result
        self.require_down = require_down
        self.before: dict[str, list[SchemaObject]] = {}
        self.after: dict[str, list[SchemaObject]] = {}

    def snapshot(self) -> list[SchemaObject]:
        return read_schema(self.engine.driver, self.engine.ledger.table)

    def run(self, *, force: bool) -> None:
        files = sorted(self.engine.files().values(), key=lambda f: version_key(f.version))
        self.result.migrations = [MigrationCheck(f.version, f.name) for f in files]
        try:
            self._find_irreversible()  # before the database is touched
            prepare_database(self.engine.driver, force=force)
            if not files:
                return
            self._apply_all()
            rebuild = False  # an irreversible migration is in the way: start from empty
            for check in reversed(self.result.migrations):
                if check.irreversible:
                    rebuild = True
                    continue
                if rebuild:
                    self._rebuild_up_to(check)
                    rebuild = False
                self._down_up_down(check)
            self._apply_again()
        except _Stop as stop:
            self.result.problems.append(stop.problem)

    def _find_irreversible(self) -> None:
        """Mark the migrations without down statements (a problem with ``require_down``)."""
        for check in self.result.migrations:
            try:
                self.engine.prepare(Plan("down", (check.version,)))
            except MigrationFileError as exc:
                if self.require_down:
                    raise _Stop(
                        VerifyProblem(NO_DOWN, check.version, check.name, str(exc))
                    ) from None
                check.irreversible = True
        if any(c.irreversible for c in self.result.migrations):
            labels = ", ".join(c.label for c in self.result.migrations if c.irreversible)
            log.warning("verify: no down statements, so not rolled back: %s", labels)

    def _rebuild_up_to(self, check: MigrationCheck) -> None:
        """Empty the database (tracking tables too) and apply the migrations up to
        ``check``: where its down can be tried without rolling back an irreversible one."""
        log.info("verify: rebuilding the database from empty up to %s", check.label)
        driver = self.engine.driver
        objects = read_schema(driver, None)
        driver.run_atomic(wipe_steps([(o.type, o.name, o.sql) for o in objects]))
        try:
            self.engine.migrate("up", to=check.version, options=self.options)
        except MigrationFailed as exc:
            failed = self._check(exc.version)
            name = failed.name if failed else None
            raise _Stop(VerifyProblem(UP_FAILED, exc.version, name, str(exc))) from None
        self._compare(
            self.after[check.version],
            REAPPLY_MISMATCH,
            check,
            f"rebuilding from empty up to {check.label} gives a different schema than the"
            " first time",
            (f"schema after {check.label} up", "the first time"),
            (f"schema after rebuilding up to {check.label}", "rebuilt"),
        )

    def _apply_all(self) -> None:
        log.info("verify: applying %d migrations one at a time", len(self.result.migrations))
        current = self.snapshot()
        for check in self.result.migrations:
            self.before[check.version] = current
            check.up_ms = self._step("up", check, UP_FAILED, "failed on the scratch database")
            current = self.snapshot()
            self.after[check.version] = current
        self._require_clean("after applying every migration")

    def _down_up_down(self, check: MigrationCheck) -> None:
        label = check.label
        check.down_ms = self._step("down", check, DOWN_FAILED, "down failed")
        self._compare(
            self.before[check.version],
            DOWN_MISMATCH,
            check,
            f"{label}: its down section does not undo its up section (the schema after up"
            " then down differs from the schema before up)",
            (f"schema before {label} up", "before up"),
            (f"schema after {label} up, then down", "after up, down"),
        )
        check.reapply_ms = self._step(
            "up",
            check,
            REAPPLY_FAILED,
            "up failed when applied again after its down (the down section probably leaves"
            " something behind that the up creates)",
        )
        self._compare(
            self.after[check.version],
            REAPPLY_MISMATCH,
            check,
            f"{label}: applying it again after its down gives a different schema than the"
            " first time",
            (f"schema after {label} up", "after up"),
            (f"schema after {label} up, down, up", "after up, down, up"),
        )
        self._step("down", check, DOWN_FAILED, "down failed the second time")
        self._compare(
            self.before[check.version],
            DOWN_MISMATCH,
            check,
            f"{label}: its down section does not undo its up section the second time",
            (f"schema before {label} up", "before up"),
            (f"schema after {label} up, down, up, down", "after up, down, up, down"),
        )
        check.verified = True

    def _apply_again(self) -> None:
        log.info("verify: applying every migration again")
        try:
            self.engine.migrate("up", options=self.options)
        except MigrationFailed as exc:
            check = self._check(exc.version)
            raise _Stop(
                VerifyProblem(UP_FAILED, exc.version, check.name if check else None, str(exc))
            ) from None
        last = self.result.migrations[-1]
        self._compare(
            self.after[last.version],
            REAPPLY_MISMATCH,
            None,
            "applying every migration again gives a different schema than the first time",
            ("schema after the first up", "the first time"),
            ("schema after down and up of every migration", "the second time"),
        )
        self._require_clean("after applying every migration again")

    def _step(self, direction: str, check: MigrationCheck, kind: str, what: str) -> float:
        """One migration in one direction; its duration in ms."""
        kwargs = {"to": check.version} if direction == "up" else {"step": 1}
        try:
            outcome = self.engine.migrate(direction, options=self.options, **kwargs)
        except MigrationFailed as exc:
            raise _Stop(
                VerifyProblem(kind, check.version, check.name, f"{check.label}: {what}: {exc}")
            ) from None
        done = [r.version for r in outcome.results]
        if done != [check.version]:  # the plan must be exactly this one migration
            raise _Stop(
                VerifyProblem(
                    STATUS_NOT_CLEAN,
                    check.version,
                    check.name,
                    f"{check.label}: expected to run only this migration {direction},"
                    f" ran {done or 'nothing'}",
                )
            )
        return outcome.results[0].duration_ms

    def _compare(
        self,
        expected: list[SchemaObject],
        kind: str,
        check: MigrationCheck | None,
        message: str,
        expected_labels: tuple[str, str],
        actual_labels: tuple[str, str],
    ) -> None:
        """``expected_labels``/``actual_labels``: (for the diff, for the difference list)."""
        actual = self.snapshot()
        differences = compare_schemas(expected, actual, expected_labels[1], actual_labels[1])
        if differences:
            diff = unified_diff(
                render_schema(expected), render_schema(actual), expected_labels[0], actual_labels[0]
            )
            version, name = (check.version, check.name) if check else (None, None)
            message += ":\n" + describe_differences(differences)
            raise _Stop(VerifyProblem(kind, version, name, message, diff))

    def _require_clean(self, when: str) -> None:
        rows = self.engine.status()
        issues = [f"{r.version}_{r.name}: {r.state}" for r in rows if r.state in PROBLEM_STATES]
        issues += [p.message for p in state_problems(rows)]
        if issues:
            raise _Stop(
                VerifyProblem(
                    STATUS_NOT_CLEAN,
                    None,
                    None,
                    f"status is not clean {when}: " + "; ".join(issues),
                )
            )

    def _check(self, version: str) -> MigrationCheck | None:
        return next((c for c in self.result.migrations if c.version == version), None)


def verify(
    engine: Engine,
    options: RunOptions | None = None,
    *,
    temporary: bool = False,
    force: bool = False,
    require_down: bool = False,
) -> VerifyResult:
    """Verify every migration in ``engine``'s folder against ``engine``'s database.
    ``require_down``: a migration without down statements is a problem (else it is
    applied, not rolled back, and reported as irreversible).

    Malformed migration files raise (exit 2) before anything runs; problems found by
    running migrations are returned in ``result.problems`` (at most one: we stop there).
    """
    errors = engine.file_errors()
    if errors:
        raise errors[0]
    options = options or RunOptions()
    started = time.perf_counter()
    result = VerifyResult(engine.driver.display_url, temporary)
    Verifier(engine, options, result, require_down=require_down).run(force=force)
    result.duration_ms = (time.perf_counter() - started) * 1000
    return result


__all__ = [
    "MigrationCheck",
    "VerifyProblem",
    "VerifyResult",
    "prepare_database",
    "scratch_path",
    "verify",
    "wipe_steps",
]
