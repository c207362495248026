"""What an operator fixed by hand, recorded (``repair``), and a stale lock released
(``unlock``): the two tasks that change the tracking tables without running a migration.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from migrate_tasks.engine.plan import FAILED, MODIFIED, status_rows
from migrate_tasks.engine.preview import preview
from migrate_tasks.engine.tracking import Holder
from migrate_tasks.engine.units import Calls, Outcome, RunOptions
from migrate_tasks.errors import UsageError
from migrate_tasks.progname import command

if TYPE_CHECKING:
    from migrate_tasks.engine.core import Engine

log = logging.getLogger("migrate_tasks")


def repair(engine: Engine, version: str, status: str, options: RunOptions) -> Outcome:
    """Record a failed (or modified) migration's state as ``status`` (applied or
    rolled_back), in one unit under the lock."""
    snapshot = engine.read_state(lock=True)
    records = snapshot.records
    rows = {r.version: r for r in status_rows(engine.file_infos(), records)}
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
    file = engine.files().get(version)
    if file is None and status == "applied":
        raise UsageError(f"cannot record {version} as applied: its file is missing")
    if file is not None and status == "applied":
        # ``up`` trusts a file applied with its current checksum to parse: keep it so
        errors = engine.file_errors(skip=set(engine.files()) - {version})
        if errors:
            raise errors[0]
    digest = engine.migrations.checksum(version) if file else records[version].checksum
    note = f"repair: {row.state} -> {status}"
    ledger = engine.ledger
    steps = ledger.repair_steps(version, row.name, digest, status, engine.actor, note)
    outcome = Outcome("repair")
    if options.dry_run:
        outcome.calls = preview([("atomic", steps)])
        return outcome
    options.confirm_or_abort(f"record migration {version}_{row.name} as {status.replace('_', ' ')}")
    with engine.locked(options, holder=snapshot.holder):
        engine.driver.run_atomic(steps)
    log.info("recorded %s_%s as %s (was %s)", version, row.name, status, row.state)
    return outcome


def unlock(engine: Engine, options: RunOptions) -> Holder | None:
    """Release a stale lock whoever holds it; returns the holder that was released
    (with ``dry_run``: that would be; ``unlock_calls`` says how)."""
    holder = engine.holder()
    if holder is None:
        return None
    if options.dry_run:
        return holder
    options.confirm_or_abort(f"release the migration lock held by {holder.describe()}")
    engine.driver.run_atomic([engine.ledger.force_release_step()])
    log.warning("released the migration lock held by %s", holder.describe())
    return holder


def unlock_calls(engine: Engine) -> Calls:
    """What ``unlock`` sends (for --dry-run): one statement, whoever holds the lease."""
    return preview([("atomic", [engine.ledger.force_release_step()])])
