"""The ``Migrator`` calls that change only the tracking tables, never the schema by
running migrations: adopting a database migrated by another tool (``baseline``,
``adopt_dbmate``) and fixing one after something went wrong (``repair``, ``unlock``).

Each asks first on a protected environment (``unlock`` always asks: releasing a live
run's lock is how migrations run twice) and takes the migration lock to write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate_tasks.api.base import Confirm, MigratorBase
from migrate_tasks.api.results import Repair, Unlock
from migrate_tasks.errors import UsageError

if TYPE_CHECKING:
    from migrate_tasks.engine.tracking import Holder
    from migrate_tasks.ops.adopt_dbmate import AdoptOutcome
    from migrate_tasks.ops.baseline import BaselineOutcome

__all__ = ["MaintenanceCalls"]


class MaintenanceCalls(MigratorBase):
    """``baseline``, ``adopt_dbmate``, ``repair``, ``lock_holder`` and ``unlock``."""

    # -- adopting a database ----------------------------------------------------------

    def baseline(
        self,
        version: str,
        *,
        force: bool = False,
        drop_alembic_version: bool = False,
        dry_run: bool = False,
        yes: bool = False,
        confirm: Confirm | None = None,
    ) -> BaselineOutcome:
        """Record every migration up to ``version`` as applied without running it, for a
        database that already has their schema (one Alembic built); a schema that differs
        raises CheckFailed unless ``force``."""
        from migrate_tasks.ops.baseline import baseline as run_baseline

        self._describe_target()
        return run_baseline(
            self.engine,
            version,
            self.run_options(dry_run=dry_run, yes=yes, confirm=confirm),
            force=force,
            drop_alembic_version=drop_alembic_version,
        )

    def adopt_dbmate(
        self,
        table: str = "schema_migrations",
        *,
        dry_run: bool = False,
        yes: bool = False,
        confirm: Confirm | None = None,
    ) -> AdoptOutcome:
        """Take over a database dbmate migrated: record the migrations dbmate's ``table``
        lists as applied (with their checksums) and drop that table, in one transaction
        (docs/dbmate.md)."""
        from migrate_tasks.ops.adopt_dbmate import adopt_dbmate as run_adopt

        engine = self.engine
        self._describe_target()
        options = self.run_options(dry_run=dry_run, yes=yes, confirm=confirm)
        return run_adopt(engine, options, table=table)

    # -- after something went wrong ---------------------------------------------------

    def repair(
        self,
        version: str,
        *,
        applied: bool = False,
        rolled_back: bool = False,
        dry_run: bool = False,
        yes: bool = False,
        confirm: Confirm | None = None,
    ) -> Repair:
        """Record the outcome of a failed migration once the database was fixed by hand:
        ``applied`` (fixed forward; for a modified one, accept the edited file) or
        ``rolled_back`` (undone by hand), exactly one. A migration in any other state
        raises UsageError; nothing but its tracking row changes."""
        from migrate_tasks.files.source import version_of

        if applied == rolled_back:
            raise UsageError("say what you fixed: pass exactly one of applied and rolled_back")
        state = "applied" if applied else "rolled_back"
        engine = self.engine
        self._describe_target()
        options = self.run_options(dry_run=dry_run, yes=yes, confirm=confirm)
        wanted = version_of(version)  # a file name works too, as for the task
        outcome = engine.repair(wanted, state, options)
        return Repair(self.target, wanted, state, outcome.calls)

    def lock_holder(self) -> Holder | None:
        """Who holds the migration lock (``owner``, ``user``, ``host``, ``pid``,
        ``acquired_at``, ``expires_at`` and ``now`` in the database's clock, ``expired``,
        ``describe()``), or None when nobody does."""
        return self.engine.holder()

    def unlock(
        self, *, dry_run: bool = False, yes: bool = False, confirm: Confirm | None = None
    ) -> Unlock:
        """Release a stale migration lock left by a run that died, whoever holds it. It
        always asks ``confirm`` first (on any environment), unless ``yes``; with neither
        it refuses (UsageError). ``Unlock.holder`` is who held it (None: nobody, nothing
        sent); with ``dry_run``, ``Unlock.calls`` says what would be sent."""
        engine = self.engine
        self._describe_target()
        options = self.run_options(dry_run=dry_run, yes=yes, confirm=confirm, always_confirm=True)
        holder = engine.unlock(options)
        calls = engine.unlock_calls() if dry_run and holder is not None else None
        return Unlock(self.target, holder, calls)
