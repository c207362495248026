"""The ``db`` a Python migration's ``up(db)``/``down(db)`` receives: ``execute``,
``executemany`` and ``query`` inside the migration's one transaction.

Every statement is checked before it is sent, as a ``.sql`` file's are: one statement
per call, no transaction control (``BEGIN``/``COMMIT``/``END``/``ROLLBACK``: the tool
owns the transaction, which also holds the tracking row), nothing the target refuses
(``engine.refusals``). A statement the database refuses fails the migration, even when
``up`` catches the exception and goes on: the transaction is rolled back as a whole.
That keeps "all or nothing" true on every driver (SQLite ends a transaction by itself
on some errors, and a remote one cannot always tell). Use SQL for conflicts
(``INSERT ... ON CONFLICT``, ``INSERT OR IGNORE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate_tasks.drivers.base import Row, Step, Transaction
from migrate_tasks.errors import DatabaseError, MigrateError, MigrationFileError, StatementError
from migrate_tasks.files.python_source import calling_line

if TYPE_CHECKING:
    from migrate_tasks.engine.refusals import Target

#: ``executemany`` sends at most this many rows a round trip (one batch, one
#: transaction), and fewer when their values pass ``BYTES_PER_REQUEST`` (a WebSocket
#: message over ~12 MB is refused by sqld).
ROWS_PER_REQUEST = 1000
BYTES_PER_REQUEST = 2 * 1024 * 1024
_CONTROL = ("BEGIN", "COMMIT", "END", "ROLLBACK")


@dataclass
class Failure:
    """The first database call of the migration that failed: where, what, why."""

    error: MigrateError
    line: int | None
    sql: str | None
    row: int | None = None  # executemany: which row (from 1)


class MigrationDatabase:
    """What ``up(db)`` gets; see the module docstring."""

    def __init__(self, transaction: Transaction, path: Path, display: str, target: Target):
        self._transaction = transaction
        self._path = path
        self._display = display
        self._target = target
        #: Statements sent (an executemany row counts as one).
        self.statements = 0
        self.failure: Failure | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; its rows (none for most writes)."""
        return self._run(sql, [_params(params)], many=False)[0]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement and return its rows as tuples."""
        return self._run(sql, [_params(params)], many=False)[0]

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run ``sql`` once per row of parameters, ``ROWS_PER_REQUEST`` rows a round trip."""
        done = 0
        for chunk in _chunks(rows):
            self._run(sql, chunk, many=True, before=done)
            done += len(chunk)

    def _run(
        self, sql: str, params: list[tuple[Any, ...]], *, many: bool, before: int = 0
    ) -> list[list[Row]]:
        """``before``: rows of this executemany sent already (to number a failing row)."""
        if self.failure is not None:
            raise DatabaseError(
                "an earlier statement of this migration failed, so it is rolled back"
                f" as a whole: {self.failure.error}",
                "MIGRATION_FAILED",
            )
        self._check(sql)
        try:
            rows = self._transaction.run([Step(sql, p) for p in params])
        except MigrateError as exc:
            row = None
            if many and isinstance(exc, StatementError):
                row = before + exc.index + 1
            self.failure = Failure(exc, calling_line(self._path), sql, row)
            raise
        self.statements += len(params)
        return rows

    def _check(self, sql: str) -> None:
        """One statement, no transaction control, nothing the target refuses."""
        from migrate_tasks.engine.refusals import statement_problem
        from migrate_tasks.sql.shapes import leading_words

        if not isinstance(sql, str):
            raise TypeError(f"SQL must be a str, not {type(sql).__name__}")
        words = leading_words(sql, 2)
        problem = None
        if words and words[0] in _CONTROL and not (words[0] == "ROLLBACK" and "TO" in words):
            problem = (
                f"transaction control ({words[0]}) is not allowed in a migration: the tool"
                " runs up(db) in one transaction with the migration's tracking row"
            )
        else:
            problem = statement_problem(sql, target=self._target, transaction=True)
        if problem is not None:
            raise MigrationFileError(self._display, calling_line(self._path), problem)


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    """``?`` parameters as a tuple; a dict or a lone string is a mistake worth a message
    (``tuple()`` of either would send its keys or its characters)."""
    if isinstance(params, (str, bytes, Mapping)):
        raise TypeError(
            f"parameters must be a tuple or list of values for the ? placeholders, not"
            f" {type(params).__name__} (for one value write (value,))"
        )
    return tuple(params)


def _chunks(rows: Iterable[Sequence[Any]]) -> Iterator[list[tuple[Any, ...]]]:
    """Rows in pieces of at most ``ROWS_PER_REQUEST`` rows and about
    ``BYTES_PER_REQUEST`` bytes of text and blobs."""
    chunk: list[tuple[Any, ...]] = []
    size = 0
    for row in rows:
        values = _params(row)
        chunk.append(values)
        size += sum(len(v) + 16 if isinstance(v, (str, bytes)) else 16 for v in values)
        if len(chunk) >= ROWS_PER_REQUEST or size >= BYTES_PER_REQUEST:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
