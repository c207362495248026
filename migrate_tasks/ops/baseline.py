"""``baseline``: adopt a database that already has the schema (one Alembic built, say).

Recording migrations as applied without running them is only safe when the database
really has the schema they build, so before writing anything we build that schema on a
private scratch database (``scratch.scratch_schema``) and compare it with the live one,
object by object, by what the schema means rather than how its text is laid out
(``schemadiff``: exact names, columns in order, constraints as a set). Differences are
refused, listed, unless ``force``.

The rows are written the way ``up`` writes them (the tracking and log tables, created if
missing), under the migration lock, in one atomic unit; ``drop_alembic_version`` adds
``DROP TABLE alembic_version`` to that same unit, so the database never has both or
neither history.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from migrate_tasks.drivers.base import Step
from migrate_tasks.engine.core import Calls, Engine, RunOptions
from migrate_tasks.engine.plan import FileInfo, version_key
from migrate_tasks.engine.preview import preview
from migrate_tasks.errors import CheckFailed, MigrateError, MigrationFailed, UsageError
from migrate_tasks.files.source import display_path, version_of
from migrate_tasks.ops.adopt_dbmate import DBMATE_TABLE, dbmate_table
from migrate_tasks.ops.schema import SchemaObject, read_schema
from migrate_tasks.ops.schemadiff import Difference, compare_schemas, describe_differences
from migrate_tasks.ops.scratch import scratch_schema
from migrate_tasks.progname import command

log = logging.getLogger("migrate_tasks")

#: Alembic's default version table (``context.configure(version_table=...)`` can rename it).
ALEMBIC_VERSION = "alembic_version"

__all__ = [
    "ALEMBIC_VERSION",
    "BaselineOutcome",
    "Difference",
    "baseline",
    "compare_schemas",
    "describe_differences",
    "engine_logs_quiet",
]


@dataclass
class BaselineOutcome:
    """What ``baseline`` recorded (or, for a dry run, would record)."""

    target: str
    version: str
    recorded: list[FileInfo] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    #: The revisions in ``alembic_version``; None when the table does not exist.
    alembic_revisions: list[str] | None = None
    dropped_alembic_version: bool = False
    calls: Calls | None = None  # dry run only


def baseline(
    engine: Engine,
    version: str,
    options: RunOptions,
    *,
    force: bool = False,
    drop_alembic_version: bool = False,
) -> BaselineOutcome:
    """Record every migration up to ``version`` as applied, after checking the schema."""
    target = version_of(version)
    files = engine.files()
    if target not in files:
        raise UsageError(
            f"no migration {target} in {display_path(engine.directory)}; "
            f"`{command('status')}` lists the migrations"
        )
    chosen = sorted((v for v in files if version_key(v) <= version_key(target)), key=version_key)
    infos = engine.file_infos(files[v] for v in chosen)
    _refuse_history(engine, fresh=False)
    if dbmate_table(engine):
        log.warning(
            "%s is dbmate's migrations table: it is not compared, and `%s` records exactly"
            " the migrations it lists (no --force needed) and drops it",
            DBMATE_TABLE,
            command("adopt-dbmate"),
        )

    live, alembic = _live_schema(engine)
    if not live:
        raise UsageError(
            f"{engine.driver.display_url} has no tables: there is nothing to baseline."
            f" Build the schema with `{command('up')}`"
        )
    expected = _expected_schema(engine, target)
    label = f"migrations up to {target}"
    differences = compare_schemas(expected, live, label, "database")
    if differences and not force:
        raise CheckFailed(_drift_message(engine, target, differences))
    for difference in differences:
        log.warning("--force: recording despite: %s", difference.describe().splitlines()[0])

    outcome = BaselineOutcome(engine.driver.display_url, target, infos, differences)
    outcome.alembic_revisions = _alembic_revisions(engine) if alembic else None
    drop = drop_alembic_version and alembic is not None
    if drop_alembic_version and alembic is None:
        log.warning("there is no %s table to drop", ALEMBIC_VERSION)
    steps = _steps(engine, infos, target, forced=bool(differences), drop=alembic if drop else None)
    if options.dry_run:
        outcome.calls = _preview(engine, steps, options.lock_ttl)
        outcome.dropped_alembic_version = drop
        return outcome
    what = f"record {len(infos)} migration(s) up to {target} as applied without running them"
    options.confirm_or_abort(what + (f" and drop {alembic}" if drop else ""))
    with engine.locked(options):
        _refuse_history(engine, fresh=True)  # again, under the lock, from the primary
        live_now, alembic_now = _live_schema(engine)
        again = compare_schemas(expected, live_now, label, "database")
        if again != differences:
            raise CheckFailed(
                "the database's schema changed while baseline was checking it; nothing was"
                " recorded. Run baseline again"
            )
        drop_now = alembic_now if drop_alembic_version else None
        steps = _steps(engine, infos, target, forced=bool(differences), drop=drop_now)
        engine.driver.run_atomic(steps)
    outcome.dropped_alembic_version = drop
    log.info("recorded %d migration(s) up to %s as applied", len(infos), target)
    return outcome


def _refuse_history(engine: Engine, *, fresh: bool) -> None:
    """Baseline adopts a database without history; recording over history would lie."""
    records = engine.records(fresh=fresh)
    if not records:
        return
    listed = ", ".join(
        f"{v} ({r.status})" for v, r in sorted(records.items(), key=lambda i: version_key(i[0]))
    )
    raise CheckFailed(
        f"{engine.ledger.table} already records migrations: {listed}. Baseline is for a"
        f" database without migration history; see `{command('status')}`, and"
        f" `{command('up')}` for the pending ones"
    )


def _live_schema(engine: Engine) -> tuple[list[SchemaObject], str | None]:
    """The user's schema objects, without Alembic's version table (and its name if any)
    or dbmate's migrations table."""
    objects = read_schema(engine.driver, engine.ledger.table)
    if dbmate_table(engine):
        objects = [o for o in objects if DBMATE_TABLE not in (o.name.lower(), o.table.lower())]
    alembic = next(
        (o.name for o in objects if o.type == "table" and o.name.lower() == ALEMBIC_VERSION),
        None,
    )
    if alembic is None:
        return objects, None
    kept = [o for o in objects if ALEMBIC_VERSION not in (o.name.lower(), o.table.lower())]
    return kept, alembic


def _expected_schema(engine: Engine, target: str) -> list[SchemaObject]:
    try:
        with engine_logs_quiet():
            return scratch_schema(engine.directory, engine.ledger.table, upto=target)
    except MigrationFailed as exc:
        raise MigrateError(
            f"building the schema of the migrations up to {target} on a scratch database"
            f" failed (the database was not touched): {exc}"
        ) from None


def _alembic_revisions(engine: Engine) -> list[str]:
    try:
        rows = engine.driver.query(f'SELECT version_num FROM "{ALEMBIC_VERSION}"')
    except MigrateError as exc:
        log.warning("could not read %s: %s", ALEMBIC_VERSION, exc)
        return []
    return sorted(str(r[0]) for r in rows)


def _drift_message(engine: Engine, target: str, differences: Sequence[Difference]) -> str:
    noun = "difference" if len(differences) == 1 else "differences"
    return (
        f"the schema of {engine.driver.display_url} is not the one the migrations up to"
        f" {target} build ({len(differences)} {noun}); nothing was recorded:\n"
        f"{describe_differences(differences)}\n"
        "Bring the database in line (or choose the VERSION it matches), or record anyway"
        " with --force"
    )


def _steps(
    engine: Engine, infos: Sequence[FileInfo], target: str, *, forced: bool, drop: str | None
) -> list[Step]:
    """One atomic unit: tracking tables if missing, a row per migration, the drop."""
    note = f"baseline up to {target}: recorded as applied without running it"
    if forced:
        note += " (schema differences accepted with --force)"
    steps = list(engine.setup_steps())
    for info in infos:
        steps += engine.ledger.baseline_steps(
            info.version, info.name, info.checksum, engine.actor, note
        )
    if drop:
        steps.append(Step(f'DROP TABLE "{drop}"'))
    return steps


def _preview(engine: Engine, steps: list[Step], ttl: int) -> Calls:
    """Exactly what a real run sends: the lock's attempt, the unit, the release."""
    return preview([("atomic", steps)], engine.new_lock(RunOptions(lock_ttl=ttl)))


@contextlib.contextmanager
def engine_logs_quiet() -> Iterator[None]:
    """Scratch databases are ours, not the user's: their 'applied ...' lines would read as
    if the user's database had been migrated."""
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(level)
