"""``Migrator``: the migration operations from Python, one database and one folder.

Settings resolve exactly as for ``invoke migrate.X`` (``config.settings.settings_for``,
with Invoke's configuration files read by ``api.project``). Calls return result objects
and raise the exception tree of ``migrate_tasks.errors``; nothing is printed, nothing
exits the process, and log lines go to the ``migrate_tasks`` logger, whose handlers are
the application's business. The Invoke tasks are thin callers of these methods.

One connection is opened on first use and kept until ``close()`` (or the end of a
``with`` block), so an in-memory database (``:memory:``) lives as long as its Migrator.
A Migrator is not meant to be shared between threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from migrate_tasks.api.project import anchored, load_config
from migrate_tasks.api.results import GeneratedMigration, Run, Status, Validation
from migrate_tasks.config.settings import Settings, settings_for
from migrate_tasks.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from migrate_tasks.autogenerate.generate import Generated
    from migrate_tasks.drivers.base import Driver, Row
    from migrate_tasks.engine.core import Engine, RunOptions
    from migrate_tasks.engine.progress import Progress
    from migrate_tasks.ops.baseline import BaselineOutcome
    from migrate_tasks.ops.dump import DumpOutcome
    from migrate_tasks.ops.verify import VerifyResult

__all__ = ["Confirm", "Migrator", "describe_target"]

log = logging.getLogger("migrate_tasks")

#: Asked before a protected environment changes: gets "roll back 2 migration(s): ...",
#: returns whether to go on (False: UsageError "aborted", nothing changed).
Confirm = Callable[[str], bool]
_M = TypeVar("_M", bound="Migrator")


class Migrator:
    """Migrations of one folder on one database, from Python.

    Every argument left out is resolved as the tasks resolve it: ``LIBSQL_URL`` then
    ``DATABASE_URL``, ``LIBSQL_AUTH_TOKEN``, ``MIGRATIONS_DIR``, ``MIGRATE_ENV``, a
    ``.env`` file in ``cwd``, the ``migrate`` section of ``invoke.yaml`` (the
    environment ``env`` laid over it) and ``INVOKE_MIGRATE_*``, then the defaults.
    ``config`` replaces the Invoke configuration files (a mapping shaped like the
    ``migrate`` section), ``config_file`` adds one over them (``libsql-migrate -f``).
    """

    def __init__(
        self,
        url: str | None = None,
        directory: str | Path | None = None,
        *,
        auth_token: str | None = None,
        table: str | None = None,
        env: str | None = None,
        insecure: bool = False,
        lock_timeout: float | None = None,
        config: Mapping[str, Any] | None = None,
        config_file: str | Path | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        where = Path(cwd) if cwd is not None else Path.cwd()
        if config is None:
            config = load_config(where, config_file)
        flags = {
            "url": url or "",
            "auth_token": auth_token or "",
            "dir": str(directory) if directory is not None else "",
            "env": env or "",
            "table": table or "",
            "insecure": insecure,
            "lock_timeout": "" if lock_timeout is None else lock_timeout,
        }
        settings = settings_for(flags, config, cwd=where)
        said = {
            k: f"the {k} argument" if v.startswith("--") else v for k, v in settings.sources.items()
        }
        settings = dataclasses.replace(settings, sources=said)
        if cwd is not None:  # relative paths are relative to cwd, as for a task run there
            settings = anchored(settings, where)
        self._init(settings, config.get("models"))

    @classmethod
    def from_settings(cls: type[_M], settings: Settings, *, models: str | None = None) -> _M:
        """A Migrator on settings already resolved (the tasks resolve theirs from Invoke's
        context)."""
        migrator = cls.__new__(cls)
        migrator._init(settings, models)
        return migrator

    def _init(self, settings: Settings, models: Any) -> None:
        self.settings = settings
        self.models: str | None = str(models) if models else None
        self._driver: Driver | None = None

    def __repr__(self) -> str:
        return f"Migrator({self.target!r}, directory={str(self.directory)!r})"

    # -- what it is bound to ----------------------------------------------------------

    @property
    def target(self) -> str:
        """The database URL with any secret removed, safe to log."""
        if self._driver is not None:
            return self._driver.display_url
        from migrate_tasks.config.urls import parse_target

        return parse_target(self.settings.url).display

    @property
    def directory(self) -> Path:
        return self.settings.directory

    @property
    def engine(self) -> Engine:
        """A new engine on this Migrator's connection (opened on first use): each call
        reads the migrations folder afresh, as each task run does."""
        from migrate_tasks.engine.core import Engine

        return Engine(self._connect(), self.settings.directory, self.settings.table)

    def _connect(self, *, must_exist: bool = False) -> Driver:
        from migrate_tasks.drivers import open_configured

        if self._driver is None:
            self._driver = open_configured(self.settings, must_exist=must_exist)
        elif must_exist:  # opened earlier without the check: a missing file must still fail
            open_configured(self.settings, must_exist=True).close()
        return self._driver

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        driver, self._driver = self._driver, None
        if driver is not None:
            driver.close()

    def __enter__(self: _M) -> _M:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of one statement (``?`` parameters), for checks and tests."""
        return self._connect().query(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement in a transaction of its own (``?`` parameters)."""
        from migrate_tasks.drivers.base import Step

        self._connect().run_atomic([Step(sql, tuple(params))])

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

    def run_options(
        self,
        *,
        dry_run: bool = False,
        yes: bool = True,
        confirm: Confirm | None = None,
        always_confirm: bool = False,
        progress: Progress | None = None,
    ) -> RunOptions:
        """The engine's options from the settings. Unless ``yes``, a protected
        environment (or ``always_confirm``) asks ``confirm``; without one it refuses."""
        from migrate_tasks.engine.core import RunOptions

        ask = not yes and (self.settings.protected or always_confirm)
        return RunOptions(
            dry_run=dry_run,
            lock_timeout=self.settings.lock_timeout,
            lock_ttl=self.settings.lock_ttl,
            confirm=(confirm or self._refuse) if ask else None,
            progress=progress,
        )

    def _refuse(self, what: str) -> bool:
        where = f"environment {self.settings.env!r} is protected: " if self.settings.env else ""
        raise UsageError(f"{where}about to {what}; pass yes=True (or a confirm callback)")

    def _describe_target(self) -> None:
        describe_target(self.settings, self.target)

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

    def create(self, name: str, *, python: bool = False) -> Path:
        """Write a new, empty migration file named after the current UTC time (``python``:
        a ``VERSION_name.py`` with ``up(db)`` and ``down(db)``)."""
        from migrate_tasks.files.integrity import keeping_sum_current
        from migrate_tasks.files.source import create_migration

        with keeping_sum_current(self.settings.directory) as written:
            written.append(create_migration(self.settings.directory, name, python=python))
        return written[0]


def describe_target(settings: Settings, display: str) -> None:
    """Log which database is about to change, and where that choice came from."""
    source = settings.sources.get("url", "default")
    env = f", environment {settings.env}" if settings.env else ""
    log.info("database %s (from %s%s)", display, source, env)
