"""``--dry-run``: exactly the calls a real run would make, built by the same functions.

Every writing task has the same shape: take the lock (one transaction that may carry
the caller's setup and reads), its own calls, release the lock. ``preview`` puts them
in that order for any task (up, down, repair, unlock, baseline, adopt-dbmate); the
reporter prints them as SQL (``report``). Nothing here touches the database.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Step
from migrate_tasks.engine.runner import next_reads, unit_calls
from migrate_tasks.engine.tracking import Actor, Ledger
from migrate_tasks.engine.units import Calls, Unit

if TYPE_CHECKING:
    from migrate_tasks.engine.batch import Batch
    from migrate_tasks.engine.lock import MigrationLock


def preview(
    calls: Calls,
    lock: MigrationLock | None = None,
    then: Batch | None = None,
    *,
    release: bool = True,
) -> Calls:
    """``calls`` as a run makes them: after the lock's attempt (carrying ``then``) and
    before its release, when the task takes the lock. ``release``: False when ``calls``
    release the lease themselves (--single-transaction)."""
    previewed: Calls = []
    if lock is not None:
        previewed.append(("atomic", lock.attempt(then)))
    previewed.extend(calls)
    if lock is not None and release:
        previewed.append(("atomic", [lock.release_step()]))
    return previewed


def migration_calls(
    units: Sequence[Unit], lock: MigrationLock, ledger: Ledger, actor: Actor
) -> Calls:
    """The calls of ``up``/``down`` one unit at a time (``runner``): each unit's, with
    the foreign-key switch the driver makes around a ``foreign_keys:off`` unit shown on
    the unit's own connection, outside its transaction."""
    calls: Calls = []
    for unit, after in itertools.zip_longest(units, units[1:]):
        then = next_reads(unit, after)
        made = unit_calls(unit, ledger, actor, lock.renew_step(), then=then).calls()
        calls.extend(with_foreign_keys(unit, made))
    return calls


def with_foreign_keys(unit: Unit, made: Calls) -> Calls:
    """A ``foreign_keys:off`` unit's calls between the switches the driver makes on the
    unit's own connection, outside its transaction."""
    if not unit.foreign_keys_off:
        return made
    off, on = Step("PRAGMA foreign_keys=OFF"), Step("PRAGMA foreign_keys=ON")
    return [("connection", [off]), *made, ("connection", [on])]
