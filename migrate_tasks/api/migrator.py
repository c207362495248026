"""``Migrator``: the migration operations from Python, one database and one folder.

Settings resolve exactly as for ``invoke migrate.X`` (``config.settings.settings_for``,
with Invoke's configuration files read by ``api.project``). Calls return result objects
and raise the exception tree of ``migrate_tasks.errors``; nothing is printed, nothing
exits the process, and log lines go to the ``migrate_tasks`` logger, whose handlers are
the application's business. The Invoke tasks are thin callers of these methods.
``api.base`` holds the settings and the connection, ``api.maintenance`` the calls that
only change the tracking tables (baseline, adopt_dbmate, repair, unlock).

One connection is opened on first use and kept until ``close()`` (or the end of a
``with`` block), so an in-memory database (``:memory:``) lives as long as its Migrator.
A Migrator is not meant to be shared between threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from migrate_tasks.api.base import Confirm, describe_target
from migrate_tasks.api.maintenance import MaintenanceCalls
from migrate_tasks.api.results import GeneratedMigration, Run, Status, Validation
from migrate_tasks.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from migrate_tasks.autogenerate.generate import Generated
    from migrate_tasks.engine.progress import Progress
    from migrate_tasks.files.source import MigrationFile
    from migrate_tasks.lint.context import LintOptions
    from migrate_tasks.lint.model import LintReport
    from migrate_tasks.lint.selection import Chosen
    from migrate_tasks.ops.dump import DumpOutcome
    from migrate_tasks.ops.verify import VerifyResult

__all__ = ["Confirm", "Migrator", "describe_target"]

log = logging.getLogger("migrate_tasks")


class Migrator(MaintenanceCalls):
    """Migrations of one folder on one database, from Python.

    Every argument left out is resolved as the tasks resolve it: ``LIBSQL_URL`` then
    ``DATABASE_URL``, ``LIBSQL_AUTH_TOKEN``, ``MIGRATIONS_DIR``, ``MIGRATE_ENV``, a
    ``.env`` file in ``cwd``, the ``migrate`` section of ``invoke.yaml`` (the
    environment ``env`` laid over it) and ``INVOKE_MIGRATE_*``, then the defaults.
    ``config`` replaces the Invoke configuration files (a mapping shaped like the
    ``migrate`` section), ``config_file`` adds one over them (``libsql-migrate -f``).
    """

    # -- reading ----------------------------------------------------------------------

    def status(self) -> Status:
        """Every migration and its state; on a server, whether it is a read replica."""
        engine = self.engine
        rows = engine.status(probe_replica=True)  # over HTTP: one round trip for both
        replica = engine.replica()
        if replica:
            log.warning(
                "%s is a read replica: its answer may lag behind the primary by a moment;"
                " ask the primary for an exact status",
                self.target,
            )
        return Status(self.target, rows, replica)

    def validate(self) -> Validation:
        """Everything that makes files, history and target disagree (``validate``);
        problems are returned, not raised."""
        from migrate_tasks.api.checks import folder_problems

        folder = folder_problems(self.settings.directory)  # the integrity file: no database
        engine = self.engine
        problems = [*folder, *engine.validate()]
        for warning in engine.warnings:
            log.warning("%s", warning)
        return Validation(self.target, problems, list(engine.warnings))

    # -- up and down ------------------------------------------------------------------

    def up(
        self,
        step: int | None = None,
        to: str | None = None,
        *,
        dry_run: bool = False,
        allow_out_of_order: bool = False,
        single_transaction: bool = False,
        wait: float | None = None,
        progress: Progress | None = None,
    ) -> Run:
        """Apply pending migrations in version order, each in its own transaction, under
        the migration lock: processes calling this at once apply each migration once.

        ``step``: only the next N; ``to``: up to and including VERSION; ``dry_run``:
        change nothing, ``Run.calls`` holds what would be sent; ``wait``: first wait up
        to that many seconds for the database to answer (a server still starting);
        ``progress``: called with an ``engine.progress.ProgressEvent`` as each migration
        starts, sends its statements and commits (the CLI draws its terminal line from
        them). A failure raises (``MigrationFailed``, ``LockTimeout``, ``CheckFailed``...) with
        the migrations completed before it in ``exc.completed``."""
        from migrate_tasks.api.checks import refuse_unsound_folder, wait_for_database

        try:
            refuse_unsound_folder(self.settings.directory, "migrate up")
        except CheckFailed as exc:
            exc.completed = []  # refused before anything ran
            raise
        if wait is not None:
            log.info("%s", wait_for_database(self.settings, wait))
        self._describe_target()
        outcome = self.engine.migrate(
            "up",
            step=step or None,
            to=to or None,
            allow_out_of_order=allow_out_of_order,
            single_transaction=single_transaction,
            options=self.run_options(dry_run=dry_run, progress=progress),
        )
        return Run(self.target, outcome, dry_run)

    def down(
        self,
        step: int | None = None,
        to: str | None = None,
        *,
        all: bool = False,
        dry_run: bool = False,
        yes: bool = False,
        confirm: Confirm | None = None,
        progress: Progress | None = None,
    ) -> Run:
        """Roll back the most recent migration (``step`` N, ``to`` VERSION exclusive,
        ``all``). On a protected environment it asks ``confirm`` first, or refuses
        (UsageError) unless ``yes``. ``progress``: as for ``up``."""
        self._describe_target()
        outcome = self.engine.migrate(
            "down",
            step=step or None,
            to=to or None,
            all_=all,
            options=self.run_options(dry_run=dry_run, yes=yes, confirm=confirm, progress=progress),
        )
        return Run(self.target, outcome, dry_run)

    # -- checks on scratch databases ---------------------------------------------------

    def verify(
        self,
        url: str | None = None,
        *,
        force: bool = False,
        require_down: bool = False,
        auth_token: str | None = None,
    ) -> VerifyResult:
        """Prove that every down undoes its up, on a scratch database: a temporary local
        file (deleted afterwards) unless ``url`` names a throw-away one, which must be
        empty unless ``force``. This Migrator's own database is never used. Problems
        are in the result (``ok``); malformed files raise. A migration without down
        statements is applied and marked irreversible, or a problem with ``require_down``."""
        from migrate_tasks.config.urls import parse_target, require_tls
        from migrate_tasks.ops.verify import scratch_path
        from migrate_tasks.ops.verify import verify as run_verify

        if force and not url:
            raise UsageError("--force drops everything in the --url database; it needs --url")
        if url:
            require_tls(parse_target(url), insecure=self.settings.insecure)
        with contextlib.ExitStack() as stack:
            target = url or stack.enter_context(scratch_path())
            token = (auth_token or self.settings.auth_token) if url else None
            settings = dataclasses.replace(self.settings, url=target, auth_token=token)
            scratch = stack.enter_context(Migrator.from_settings(settings))
            log.info("verify: database %s", scratch.target)
            result = run_verify(
                scratch.engine,
                scratch.run_options(),
                temporary=not url,
                force=force,
                require_down=require_down,
            )
        return result

    def dump(self, path: str | Path = "schema.sql", *, check: bool = False) -> DumpOutcome:
        """The database's schema as schema.sql text, compared with ``path``; writes the
        file when it is out of date, unless ``check``. A local database file that does
        not exist is an error (ConnectionFailed), never an empty schema."""
        from migrate_tasks.ops.dump import compare_dump, write_dump

        self._connect(must_exist=True)
        outcome = compare_dump(self.engine, Path(path))
        if not check and not outcome.up_to_date:
            write_dump(Path(path), outcome.text)
        return outcome

    def check_models(self, models: str | None = None, *, renames: Sequence[str] = ()) -> Generated:
        """Compare SQLAlchemy models (``package.module:Base``; default: ``migrate.models``)
        with the schema the migrations build; ``up_to_date`` when they agree."""
        from migrate_tasks.api.models import compare_models

        return compare_models(self.settings, models or self.models, renames, prove=False)

    def generate(
        self,
        name: str,
        models: str | None = None,
        *,
        renames: Sequence[str] = (),
        dry_run: bool = False,
    ) -> GeneratedMigration:
        """Write a migration that turns the migrations' schema into the models' (proved
        on a scratch database first); nothing is written when they agree or ``dry_run``."""
        from migrate_tasks.api.models import compare_models, write_generated
        from migrate_tasks.files.source import _check_name

        _check_name(name)
        result = compare_models(self.settings, models or self.models, renames, prove=True)
        if dry_run or result.up_to_date:
            return GeneratedMigration(result)
        return write_generated(self.settings, name, result)

    def lint(
        self,
        *,
        since: str | None = None,
        files: Sequence[str] = (),
        read_database: bool | None = None,
        transaction_budget: float = 5.0,
    ) -> LintReport:
        """Find dangerous statements in migrations before they run (docs/lint.md): those
        pending on this database by default; with ``since`` (a git ref) those a branch
        adds, with ``files`` those files. The database is read (what is pending, row
        counts for the data and size rules) unless ``since`` or ``files`` choose, or
        ``read_database`` says. Findings are returned: ``report.failed(strict=...)``."""
        from migrate_tasks.lint import selection
        from migrate_tasks.lint.run import lint as run_lint

        directory = self.settings.directory
        read = not (since or files) if read_database is None else read_database
        extra: list[MigrationFile] = []
        if files:
            chosen, extra = selection.files(list(files), directory)
        elif since:
            try:
                chosen = selection.since(directory, since)
            except UsageError as exc:
                raise UsageError(f"--since: {exc}") from None
        elif read:
            chosen = selection.pending(self.engine)
        else:
            raise UsageError("lint: say which migrations: since, files, or the database's")
        counts = self._row_counts(chosen, extra) if read else None
        options = _lint_options(self.settings.url, chosen, counts, since, transaction_budget)
        report = run_lint(
            directory, chosen.versions, extra=extra, options=options, selection=chosen.label
        )
        report.target, report.row_counts = (self.target if read else None), counts is not None
        return report

    def _row_counts(self, chosen: Chosen, extra: list[MigrationFile]) -> dict[str, int]:
        """The live row counts of the tables the linted migrations name (for the data
        and size rules)."""
        from migrate_tasks.lint.counts import row_counts, tables_named
        from migrate_tasks.lint.run import ordered
        from migrate_tasks.lint.sources import load_source

        linted = [
            f
            for f in ordered(self.settings.directory, extra)
            if (f.version in chosen.versions or f in extra) and not f.python
        ]
        return row_counts(self._connect(), tables_named(load_source(f) for f in linted))

    # -- writing a migration --------------------------------------------------------

    def create(self, name: str, *, python: bool = False) -> Path:
        """Write a new, empty migration file named after the current UTC time (``python``:
        a ``VERSION_name.py`` with ``up(db)`` and ``down(db)``)."""
        from migrate_tasks.files.integrity import keeping_sum_current
        from migrate_tasks.files.source import create_migration

        with keeping_sum_current(self.settings.directory) as written:
            written.append(create_migration(self.settings.directory, name, python=python))
        return written[0]


def _lint_options(
    url: str, chosen: Chosen, counts: dict[str, int] | None, since: str | None, budget: float
) -> LintOptions:
    from migrate_tasks.lint.context import LintOptions
    from migrate_tasks.lint.target import target_of

    return LintOptions(
        target=target_of(url),
        row_counts=counts,
        newest_applied=chosen.newest_applied,
        base_newest=chosen.base_newest,
        base_label=since or "",
        transaction_budget_s=budget,
    )
