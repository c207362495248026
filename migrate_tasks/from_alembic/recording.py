"""``import-alembic``: Alembic run against a private SQLite file, every statement recorded.

The project's own ``env.py`` runs with ``sqlalchemy.url`` pointing at the scratch file; a
hook refuses any other database (so a production URL hard-coded in env.py is never
touched), engines env.py builds itself are given the scratch file (``engines.py``), and
every statement SQLAlchemy sends is recorded for ``sqlgen.py``. A failure is told as the
revision (and line) that failed, or env.py, and why (``failures.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from migrate_tasks.drivers import open_driver
from migrate_tasks.errors import MigrateError, UsageError
from migrate_tasks.from_alembic import failures, sqlgen
from migrate_tasks.from_alembic import head as headdb
from migrate_tasks.from_alembic.engines import scratch_engines
from migrate_tasks.from_alembic.history import alembic_command
from migrate_tasks.from_alembic.order import ordered_batch
from migrate_tasks.sql.shapes import leading_words


class ScratchRefused(UsageError):
    """env.py tried to connect to a database other than the scratch one."""


class AlembicScratch:
    """Alembic commands against a private SQLite file, recording the SQL they send."""

    def __init__(self, cfg: Any, path: Path) -> None:
        self.cfg = cfg
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        self.captured: list[sqlgen.Captured] = []
        self.connected = False
        #: Backends of the engines env.py asked for and got the scratch database instead.
        self.redirected: list[str] = []

    def run(self, direction: str, target: str) -> list[sqlgen.Captured]:
        """``alembic upgrade|downgrade target``; the statements sent, in order."""
        command = alembic_command()
        self.captured = []
        with self._hooks():
            (command.upgrade if direction == "up" else command.downgrade)(self.cfg, target)
        return self.captured

    @contextlib.contextmanager
    def _hooks(self) -> Iterator[None]:
        from sqlalchemy import TextClause, event
        from sqlalchemy.engine import Engine as SAEngine

        def guard(dialect: Any, _record: Any, cargs: Any, _cparams: Any) -> None:
            where = str(cargs[0]) if cargs else ""
            if dialect.name != "sqlite" or os.path.abspath(where) != self.path:
                raise ScratchRefused(
                    "env.py connected to a database other than the scratch SQLite database"
                    f" import-alembic gave it (a {dialect.name} database); nothing ran there."
                    " Make env.py take its URL from the configuration"
                    ' (config.get_main_option("sqlalchemy.url") or engine_from_config)'
                )
            self.connected = True

        def capture(conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
            if conn.engine.url.database != self.path:
                return
            tables = None
            words = leading_words(sql, 1)
            if words and words[0] in ("INSERT", "UPDATE", "DELETE") and "version_num" in sql:
                rows = cursor.connection.execute(
                    "SELECT lower(name), sql FROM sqlite_master WHERE type = 'table'"
                ).fetchall()
                tables = {str(name): str(text) for name, text in rows}
            compiled = getattr(ctx, "compiled", None)
            user = compiled is None or isinstance(getattr(compiled, "statement", None), TextClause)
            self.captured.append(sqlgen.Captured(sql, params, many, tables, user))

        def fast(dbapi_connection: Any, _record: Any) -> None:
            # a throw-away file: no fsync per statement (Alembic commits each DDL)
            dbapi_connection.execute("PRAGMA synchronous=OFF")
            dbapi_connection.execute("PRAGMA journal_mode=MEMORY")

        hooks = [("do_connect", guard), ("connect", fast), ("before_cursor_execute", capture)]
        for name, fn in hooks:
            event.listen(SAEngine, name, fn)
        try:
            with _quiet_logging(), ordered_batch(), scratch_engines(self.path, self.redirected):
                yield
        finally:
            for name, fn in reversed(hooks):
                event.remove(SAEngine, name, fn)


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """env.py usually calls ``logging.config.fileConfig``, which replaces the root handlers
    and disables every logger it does not name, ours included; put everything back, and
    keep Alembic's INFO lines (each revision, twice) out of our output meanwhile."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = {
        name: (lg.disabled, lg.level, list(lg.handlers), lg.propagate)
        for name, lg in logging.root.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(previous)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, lg in logging.root.manager.loggerDict.items():
            if not isinstance(lg, logging.Logger):
                continue
            if name in loggers:
                lg.disabled, lg.level, lg.handlers[:], lg.propagate = loggers[name]
            else:
                lg.disabled = False


def run_recorded(
    scratch: AlembicScratch, direction: str, target: str, revisions: Sequence[sqlgen.Revision]
) -> list[sqlgen.Captured]:
    """``scratch.run``, a failure told as the revision or env.py that failed, and why."""
    try:
        return scratch.run(direction, target)
    except MigrateError:
        raise
    except (Exception, SystemExit) as exc:
        raise _explained(exc, scratch, direction, revisions) from None


def _explained(
    exc: BaseException,
    scratch: AlembicScratch,
    direction: str,
    revisions: Sequence[sqlgen.Revision],
) -> MigrateError:
    """Which revision (and line) failed, or env.py, and why."""
    from alembic.script import ScriptDirectory

    paths = [r.path for r in revisions]
    place = failures.innermost(exc, paths)
    if place is not None and not failures.importing(exc, place[0]):
        index = paths.index(place[0])
        return failures.revision_failure(exc, direction, revisions[index], place[1])
    if place is None and scratch.connected and getattr(exc, "orig", None) is not None:
        # a database error outside the revisions' code (at COMMIT, say): Alembic writes
        # its version table after each revision, so count those writes
        table = _scratch_version_table(scratch)
        done = sum(1 for item in scratch.captured if sqlgen.is_version_write(item, table))
        index = done if direction == "up" else len(revisions) - 1 - done
        failed = revisions[index] if 0 <= index < len(revisions) else None
        return failures.revision_failure(exc, direction, failed, None)
    env_py = ScriptDirectory.from_config(scratch.cfg).env_py_location
    return failures.load_failure(exc, env_py, paths, scratch.url)


def _scratch_version_table(scratch: AlembicScratch) -> str:
    driver = open_driver(f"file:{scratch.path}", None)
    try:
        return (headdb.version_table(driver) or "alembic_version").lower()
    finally:
        driver.close()
