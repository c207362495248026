"""Local database files through the native ``libsql`` driver (the real libSQL engine).

The native driver has traps we work around here (measured, see docs/libsql-notes.md):
every error is a plain ``ValueError``; ``execute`` silently runs only the first
of several statements and ``executescript`` swallows errors, so we refuse
multi-statement steps and run each step on its own inside an explicit
``BEGIN IMMEDIATE``/``COMMIT``; it binds Python ints outside 32 bits as REAL
(2**53 + 1 loses digits), so such parameters are sent as text wrapped in
``CAST(? AS INTEGER)`` (both in ``drivers.local_steps``); using a closed connection
panics, so we track that. An interactive transaction (Python migrations) is
``drivers.local_interactive``.

Without a libsql wheel for the platform we fall back to stdlib ``sqlite3`` with
libSQL's defaults (foreign keys on, 5 s busy timeout) and say once that
libSQL-only syntax is unavailable. ``MIGRATE_TASKS_FORCE_SQLITE3=1`` forces it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from migrate_tasks.drivers import local_interactive
from migrate_tasks.drivers.base import Row, Step
from migrate_tasks.drivers.local_interactive import LocalTransaction

# Kept under these private names: tests call local._prepare.
from migrate_tasks.drivers.local_steps import by_name as _by_name
from migrate_tasks.drivers.local_steps import prepare as _prepare
from migrate_tasks.errors import ConnectionFailed, DatabaseError, StatementError

FORCE_SQLITE3_ENV = "MIGRATE_TASKS_FORCE_SQLITE3"
log = logging.getLogger("migrate_tasks")
_warned_fallback = False

# (pattern in SQLite's message, SQLite result code name) for the native driver,
# whose ValueError carries only the text.
_CODES = (
    ("constraint failed", "SQLITE_CONSTRAINT"),
    ("database is locked", "SQLITE_BUSY"),
    ("is locked", "SQLITE_LOCKED"),
    ("file is not a database", "SQLITE_NOTADB"),
    ("disk i/o error", "SQLITE_IOERR"),
    ("readonly database", "SQLITE_READONLY"),
    ("string or blob too big", "SQLITE_TOOBIG"),
    ("unable to open", "SQLITE_CANTOPEN"),
    ("interrupted", "SQLITE_INTERRUPT"),
)


class LocalDriver:
    """A local file (or ``:memory:``) on one connection kept in autocommit mode."""

    is_server = False
    can_switch_foreign_keys = True
    may_be_replica = False
    reads_in_one_round_trip = True  # no round trips at all
    runs_groups = False  # one transaction per call (no round trip to save)
    group_max_steps = 0
    group_max_bytes = 0
    interactive_transactions = True

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = 5.0,
        display_url: str | None = None,
        must_exist: bool = False,
    ):
        """``must_exist``: a missing file is an error instead of an empty database (for
        reading a schema that must be there: a typo must not read as "no tables")."""
        self.display_url = display_url or path
        self._path = path
        self._closed = False
        if path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise ConnectionFailed(
                    f"cannot open {path!r}: the folder {parent!r} does not exist (create it first)"
                )
            if must_exist and not os.path.exists(path):
                raise ConnectionFailed(
                    f"cannot open {path!r}: the database file does not exist (check the URL;"
                    " it is relative to the directory you run the command in)"
                )
        self._busy_timeout = busy_timeout
        # A database that does not exist yet reads as empty: status, --dry-run and refused
        # runs must not leave an empty file behind, so the file appears at the first write.
        self._deferred = path != ":memory:" and not os.path.exists(path)
        self._open(":memory:" if self._deferred else path)

    def _open(self, path: str) -> None:
        native = None if os.environ.get(FORCE_SQLITE3_ENV) == "1" else _import_libsql()
        try:
            if native is not None:
                self.name, self.libsql_syntax = "libsql-file", True
                self._conn: Any = native.connect(
                    path, timeout=self._busy_timeout, isolation_level=None
                )
                self._errors: tuple[type[BaseException], ...] = (ValueError,)
            else:
                _warn_fallback()
                self.name, self.libsql_syntax = "sqlite3-file", False
                self._conn = sqlite3.connect(path, timeout=self._busy_timeout, isolation_level=None)
                self._errors = (sqlite3.Error,)
                self._conn.execute("PRAGMA foreign_keys=ON")
            # Errors such as "file is not a database" only show at the first read.
            self._conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()
        except (ValueError, sqlite3.Error) as exc:
            self._close_quietly()
            message, _ = _translate(exc)
            raise ConnectionFailed(f"cannot open {self._path!r}: {message}") from None

    def _materialise(self) -> None:
        """Create the real file now that something will be written."""
        if self._deferred:
            self._check_open()
            self._close_quietly()
            self._deferred = False
            self._open(self._path)

    def __repr__(self) -> str:
        return f"<LocalDriver {self.name} {self.display_url}>"

    def __enter__(self) -> LocalDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement in autocommit mode and return its rows."""
        if self._deferred and not sql.lstrip().upper().startswith("SELECT"):
            self._materialise()  # anything but a plain read may write: never into the stand-in
        try:
            return self._execute(0, sql, params)
        except StatementError as exc:
            raise DatabaseError(exc.message, exc.code) from None

    def query_many(self, steps: Sequence[Step]) -> list[list[Row] | DatabaseError]:
        """Each step in autocommit mode, in order; a failing one does not stop the rest."""
        answers: list[list[Row] | DatabaseError] = []
        for step in steps:
            try:
                answers.append(self.query(step.sql, step.params))
            except DatabaseError as exc:  # connection problems are not DatabaseErrors
                answers.append(exc)
        return answers

    def run_atomic(
        self, steps: Sequence[Step], *, foreign_keys_off: bool = False
    ) -> list[list[Row]]:
        """BEGIN IMMEDIATE (take the write lock up front), each step, COMMIT."""
        if not steps:
            return []
        self._materialise()
        with self._foreign_keys_off(foreign_keys_off):
            self._control("BEGIN IMMEDIATE", "could not start a transaction")
            results: list[list[Row]] = []
            try:
                for i, step in enumerate(steps):
                    results.append(self._execute(i, step.sql, step.params))
                self._control("COMMIT", "COMMIT failed, nothing of this unit was applied")
            except BaseException:  # also Ctrl-C: never leave the transaction open
                self._rollback()
                raise
        return results

    def run_atomic_iter(self, steps: Iterable[Step], *, foreign_keys_off: bool = False) -> None:
        """Like ``run_atomic`` but consuming ``steps`` lazily and keeping no rows, so
        memory does not grow with the unit. Anything raised, by a step, by Ctrl-C or by
        the iterator itself, rolls back and propagates unchanged."""
        iterator = iter(steps)
        first = next(iterator, None)  # an empty or failing producer leaves no file behind
        if first is None:
            return
        self._materialise()
        with self._foreign_keys_off(foreign_keys_off):
            self._control("BEGIN IMMEDIATE", "could not start a transaction")
            try:
                self._execute(0, first.sql, first.params)
                for i, step in enumerate(iterator, 1):
                    self._execute(i, step.sql, step.params)
                self._control("COMMIT", "COMMIT failed, nothing of this unit was applied")
            except BaseException:
                self._rollback()
                raise

    @contextlib.contextmanager
    def _foreign_keys_off(self, enabled: bool) -> Iterator[None]:
        """Foreign keys off on this connection around one transaction (set outside it:
        SQLite ignores the PRAGMA inside), then back to what they were, whatever happens."""
        if not enabled:
            yield
            return
        self._check_open()
        try:
            before = self._conn.execute("PRAGMA foreign_keys").fetchall()[0][0]
        except self._errors as exc:
            message, code = _translate(exc)
            raise DatabaseError(f"could not read PRAGMA foreign_keys: {message}", code) from None
        self._control("PRAGMA foreign_keys=OFF", "could not turn foreign keys off")
        try:
            yield
        finally:
            if not self._closed:
                try:
                    self._conn.execute(f"PRAGMA foreign_keys={1 if before else 0}")
                except self._errors as exc:  # the unit's own outcome is what to report
                    log.warning("could not turn foreign keys back on: %s", _translate(exc)[0])

    def interactive_transaction(self) -> contextlib.AbstractContextManager[LocalTransaction]:
        """BEGIN IMMEDIATE on this connection; COMMIT when the block ends normally,
        ROLLBACK (then re-raise) when it raises (``drivers.local_interactive``)."""
        return local_interactive.interactive_transaction(self)

    def run_each(self, steps: Sequence[Step]) -> list[list[Row]]:
        """Each step commits on its own; stop at the first failure."""
        if steps:
            self._materialise()
        return [self._execute(i, step.sql, step.params) for i, step in enumerate(steps)]

    def ending(self) -> None:
        """Nothing to do: no session to end."""

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back); safe twice."""
        if not self._closed:
            self._closed = True
            self._close_quietly()

    # -- internals ------------------------------------------------------------

    def _execute(self, index: int, sql: str, params: Sequence[Any]) -> list[Row]:
        self._check_open()
        sql, params = _prepare(index, sql, tuple(params), rewrite_ints=self.libsql_syntax)
        bound: Any = params
        if not self.libsql_syntax:
            sql, bound = _by_name(sql, params)
        try:
            rows = self._conn.execute(sql, bound).fetchall()  # native: None for DDL
            return [tuple(row) for row in rows or ()]
        except self._errors as exc:
            message, code = _translate(exc)
            self._raise_if_unwritable(message, code)
            raise StatementError(index, message, code) from None

    def _raise_if_unwritable(self, message: str, code: str | None) -> None:
        """A read-only file is an access problem, like a read-only token: exit 5, not 1."""
        if code in ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"):
            raise ConnectionFailed(
                f"cannot write to {self.display_url}: {message}. The database file (or its"
                " folder, where SQLite writes its journal) is read-only for this user;"
                " check the permissions"
            )

    def _control(self, sql: str, what: str) -> None:
        self._check_open()
        try:
            self._conn.execute(sql)
        except self._errors as exc:
            message, code = _translate(exc)
            self._raise_if_unwritable(message, code)
            raise DatabaseError(f"{what}: {message}", code) from None

    def _rollback(self) -> None:
        if self._closed:
            return
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except self._errors:
            pass  # SQLite may have rolled back already (e.g. after SQLITE_FULL)

    def _check_open(self) -> None:
        if self._closed:  # the native driver panics (BaseException) on a closed connection
            raise DatabaseError(f"{self.display_url}: the driver is closed", "CLIENT_CLOSED")

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(ValueError, sqlite3.Error):
                conn.close()


def _import_libsql() -> Any:
    try:
        import libsql
    except ImportError:
        return None
    return libsql


def _warn_fallback() -> None:
    global _warned_fallback
    if not _warned_fallback:
        _warned_fallback = True
        log.warning(
            "the native libsql driver is not available here; local files use Python's sqlite3, "
            "so libSQL-only syntax (ALTER COLUMN, vectors, RANDOM ROWID) is unavailable"
        )


def _translate(exc: BaseException) -> tuple[str, str | None]:
    """SQLite's text and result-code name from a native ValueError or sqlite3.Error."""
    message = str(exc) or type(exc).__name__
    code = getattr(exc, "sqlite_errorname", None)  # Python 3.11+: extended, e.g. ..._UNIQUE
    if code is not None:
        code = "_".join(code.split("_")[:2])  # the primary code, as sqld reports it
    else:
        found = re.search(r'code: "([A-Z_]+)"', message)  # a remote-style message
        if found:
            code = found.group(1)
        else:
            lowered = message.lower()
            code = next((name for text, name in _CODES if text in lowered), None)
            if code is None and isinstance(exc, ValueError):
                code = "SQLITE_ERROR"
    return message, code
