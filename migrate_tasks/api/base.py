"""What every ``Migrator`` call stands on: settings resolved as the tasks resolve them,
one connection kept for the Migrator's life, and the engine's run options (confirmation
on a protected environment).

``Migrator`` (``api.migrator``) adds the everyday operations and ``api.maintenance``
those that only change the tracking tables; this class holds what they share.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from migrate_tasks.api.project import anchored, load_config
from migrate_tasks.config.settings import Settings, settings_for
from migrate_tasks.errors import UsageError

if TYPE_CHECKING:
    from migrate_tasks.drivers.base import Driver, Row
    from migrate_tasks.engine.core import Engine, RunOptions
    from migrate_tasks.engine.progress import Progress

__all__ = ["Confirm", "MigratorBase", "describe_target"]

log = logging.getLogger("migrate_tasks")

#: Asked before a protected environment changes: gets "roll back 2 migration(s): ...",
#: returns whether to go on (False: UsageError "aborted", nothing changed).
Confirm = Callable[[str], bool]
_M = TypeVar("_M", bound="MigratorBase")


class MigratorBase:
    """Settings, the connection and run options of a ``Migrator`` (see there)."""

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

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of one statement (``?`` parameters), for checks and tests."""
        return self._connect().query(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement in a transaction of its own (``?`` parameters)."""
        from migrate_tasks.drivers.base import Step

        self._connect().run_atomic([Step(sql, tuple(params))])

    # -- how a writing call runs ------------------------------------------------------

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


def describe_target(settings: Settings, display: str) -> None:
    """Log which database is about to change, and where that choice came from."""
    source = settings.sources.get("url", "default")
    env = f", environment {settings.env}" if settings.env else ""
    log.info("database %s (from %s%s)", display, source, env)
