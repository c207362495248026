"""``adopt-dbmate``: take over a database dbmate migrated, in one transaction under the lock.

dbmate records each applied migration as one row of ``schema_migrations(version)``
(``--migrations-table`` renames it) and nothing else. Our default tracking table has the
same name, so the switch has to replace dbmate's table with ours. Adopting checks that
every version dbmate lists has its file in the folder and that every file parses (``up``
trusts a file recorded with its current checksum to parse), then, under the migration
lock, runs ONE transaction that

1. checks dbmate's table still lists exactly the versions read (dbmate does not take
   our lock; anything else fails the transaction, so nothing changes),
2. drops dbmate's table,
3. creates our tracking tables (if missing) and records each version dbmate applied:
   status applied, the file's checksum and name, and a log row saying it was adopted.

Outcomes worth knowing: a version dbmate recorded whose file is not in the folder is
refused (restore the file); files dbmate never applied stay pending and ``up`` applies
them; an empty dbmate table records nothing (the table is still replaced by ours).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from migrate_tasks.config.settings import validate_identifier
from migrate_tasks.drivers.base import Step
from migrate_tasks.engine.batch import Batch, Name
from migrate_tasks.engine.core import Calls, Engine, RunOptions
from migrate_tasks.engine.lock import MigrationLock
from migrate_tasks.engine.plan import FileInfo, version_key
from migrate_tasks.engine.preview import preview
from migrate_tasks.engine.tracking import LOCK_LOST
from migrate_tasks.errors import CheckFailed, LockLost, MigrateError, StatementError, UsageError
from migrate_tasks.files.source import display_path
from migrate_tasks.progname import command

log = logging.getLogger("migrate_tasks")

#: dbmate's default migrations table (``--migrations-table`` / DBMATE_MIGRATIONS_TABLE).
DBMATE_TABLE = "schema_migrations"
#: In the error of the guard step (see ``guard_step``).
CHANGED = "migrate_tasks:dbmate_table_changed:"

__all__ = ["DBMATE_TABLE", "AdoptOutcome", "adopt_dbmate", "dbmate_table"]


@dataclass
class AdoptOutcome:
    """What ``adopt_dbmate`` recorded (or, for a dry run, would record)."""

    target: str
    table: str
    recorded: list[FileInfo] = field(default_factory=list)
    #: Files dbmate never applied: pending for us, in version order.
    pending: list[FileInfo] = field(default_factory=list)
    calls: Calls | None = None  # dry run only


def dbmate_table(engine: Engine, table: str = DBMATE_TABLE) -> bool:
    """Whether ``table`` exists and has dbmate's shape: one column, ``version``."""
    return _columns(engine, table) == ["version"]


def adopt_dbmate(engine: Engine, options: RunOptions, *, table: str = DBMATE_TABLE) -> AdoptOutcome:
    """Record the migrations dbmate applied as ours, and drop dbmate's table."""
    table = validate_identifier(table, "--dbmate-table")
    outcome, versions = _checked(engine, table)
    if options.dry_run:
        lock = engine.new_lock(RunOptions(lock_ttl=options.lock_ttl))
        one = _batch(engine, lock, table, versions, outcome.recorded)
        outcome.calls = preview([("atomic", one)], lock)
        return outcome
    options.confirm_or_abort(
        f"record {len(outcome.recorded)} migration(s) dbmate applied as applied and drop"
        f" dbmate's table {table}"
    )
    with engine.locked(options) as lock:
        one = _batch(engine, lock, table, versions, outcome.recorded)
        try:
            engine.driver.run_atomic(one.steps())
        except StatementError as exc:
            raise _failure(exc, one.locate(exc.index).part, table) from None
    log.info("adopted %d migration(s) dbmate applied; dropped %s", len(outcome.recorded), table)
    return outcome


def _checked(engine: Engine, table: str) -> tuple[AdoptOutcome, list[str]]:
    """Everything checked before the lock (files, dbmate's table, our history), and what
    adopting would record; also dbmate's versions as read, for ``guard_step``."""
    if table in (engine.ledger.log_table, engine.ledger.lock_table):
        raise UsageError(f"--dbmate-table {table} is one of our own tracking tables")
    files = engine.files()  # bad names and duplicate versions: exit 2 before any read
    errors = engine.file_errors()  # up trusts a file recorded with its checksum to parse
    if errors:
        raise errors[0]
    versions = _versions(engine, table)
    _refuse_history(engine, table)
    missing = [v for v in versions if v not in files]
    if missing:
        raise CheckFailed(
            f"dbmate's {table} records {len(missing)} version(s) with no file in"
            f" {display_path(engine.directory)}: {', '.join(missing)}; nothing was changed."
            " Restore those files (from version control), or point --dir at the folder"
            " dbmate used"
        )
    applied = set(versions)
    infos = engine.file_infos(files[v] for v in sorted(files, key=version_key))
    outcome = AdoptOutcome(
        engine.driver.display_url,
        table,
        [i for i in infos if i.version in applied],
        [i for i in infos if i.version not in applied],
    )
    _warn_about_order(outcome, [f.path.name for f in files.values()])
    return outcome, versions


def _columns(engine: Engine, table: str) -> list[str]:
    rows = engine.driver.query(
        "SELECT c.name FROM sqlite_master AS t JOIN pragma_table_info(t.name) AS c"
        " WHERE t.type = 'table' AND t.name = ? ORDER BY c.cid",
        (table,),
    )
    return [str(r[0]) for r in rows]


def _versions(engine: Engine, table: str) -> list[str]:
    """dbmate's versions, in version order; refuses a table that is not dbmate's."""
    columns = _columns(engine, table)
    if not columns:
        raise UsageError(
            f"{engine.driver.display_url} has no table {table}: dbmate has not migrated it"
            " (nothing to adopt). If dbmate used another table (--migrations-table), pass"
            f" --dbmate-table NAME; for a new database run `{command('up')}`"
        )
    if columns != ["version"]:
        ours = {"checksum", "status"} <= set(columns)
        why = (
            "it is already a migrate_tasks tracking table: this database needs no adopting;"
            f" see `{command('status')}`"
            if ours
            else f"dbmate's has one column, version; this one has {', '.join(columns)}"
        )
        raise UsageError(f"table {table} is not dbmate's migrations table: {why}")
    rows = engine.driver.query(f'SELECT version FROM "{table}"')
    return sorted((str(r[0]) for r in rows), key=_order)


def _order(version: str) -> tuple[int, int, str]:
    """Digits sort as numbers (as ours do); anything else (not dbmate's) after them."""
    return (0, int(version), version) if version.isdigit() else (1, 0, version)


def _refuse_history(engine: Engine, table: str) -> None:
    """Our tracking table must not already hold history (unless it IS dbmate's table)."""
    if table == engine.ledger.table:
        return
    records = engine.records()
    if records:
        raise CheckFailed(
            f"{engine.ledger.table} already records {len(records)} migration(s); adopting"
            f" dbmate's history on top of ours would mix the two. See `{command('status')}`"
        )


def _warn_about_order(outcome: AdoptOutcome, names: Sequence[str]) -> None:
    """Say where our order and dbmate's differ: pending files older than the newest
    applied one (dbmate applies them; ``up`` wants --allow-out-of-order), and folders
    whose versions have different lengths (dbmate orders by file name)."""
    newest = max((version_key(i.version) for i in outcome.recorded), default=None)
    late = [i for i in outcome.pending if newest is not None and version_key(i.version) < newest]
    if late:
        listed = ", ".join(f"{i.version}_{i.name}" for i in late)
        log.warning(
            "%d migration(s) dbmate never applied are older than the newest it applied: %s."
            " dbmate would apply them; `%s` refuses until you pass --allow-out-of-order",
            len(late),
            listed,
            command("up"),
        )
    by_number = sorted(names, key=lambda n: version_key(_leading_digits(n)))
    if by_number != sorted(names):
        log.warning(
            "versions in this folder have different lengths: dbmate runs files in name order"
            " (9_x.sql after 10_y.sql), migrate_tasks in number order (9 before 10)"
        )


def _leading_digits(name: str) -> str:
    end = 0
    while end < len(name) and name[end].isdigit():
        end += 1
    return name[:end]


def guard_step(table: str, versions: Sequence[str]) -> Step:
    """Fails (``CHANGED`` in the error) unless ``table`` lists exactly ``versions``."""
    return Step(
        f'SELECT CASE WHEN (SELECT count(*) FROM "{table}") <> ? OR EXISTS (SELECT 1'
        f' FROM "{table}" WHERE CAST(version AS TEXT) NOT IN (SELECT value FROM json_each(?)))'
        f" THEN json_extract('{{}}', '{CHANGED}') END",
        (len(versions), json.dumps(list(versions))),
    )


def _batch(
    engine: Engine,
    lock: MigrationLock,
    table: str,
    versions: Sequence[str],
    recorded: Sequence[FileInfo],
) -> Batch:
    """The one transaction: "lease" (still ours), "dbmate" (its table still as read,
    then dropped), "ours" (our tables, a row per migration dbmate applied)."""
    ledger = engine.ledger
    note = f"adopt-dbmate: applied by dbmate (recorded in its {table} table)"
    ours = ledger.create_steps()  # IF NOT EXISTS: ours may replace dbmate's, just dropped
    for info in recorded:
        ours += ledger.baseline_steps(
            info.version, info.name, info.checksum, engine.actor, note, action="adopt"
        )
    batch = Batch().add("lease", [ledger.lock_guard_step(lock.owner)])
    batch.add("dbmate", [guard_step(table, versions), Step(f'DROP TABLE "{table}"')])
    return batch.add("ours", ours)


def _failure(exc: StatementError, part: Name, table: str) -> MigrateError:
    """The transaction failed (in ``part``), so nothing changed: say why in the user's
    terms."""
    if part == "lease" and LOCK_LOST in exc.message:
        return LockLost(
            "lost the migration lock before adopting (its lease expired and another run"
            " took it); nothing was changed. Run adopt-dbmate again"
        )
    if part == "dbmate" and (CHANGED in exc.message or "no such table" in exc.message):
        return CheckFailed(
            f"dbmate's table {table} changed while adopting it (did dbmate, or another"
            " adopt-dbmate, run meanwhile?); nothing was changed. Run adopt-dbmate again"
        )
    return MigrateError(f"adopting dbmate's history failed; nothing was changed: {exc.message}")
