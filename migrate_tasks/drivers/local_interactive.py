"""An interactive transaction on a local file, for code that reads rows and decides what
to write next (Python migrations).

The connection already keeps a transaction open between calls, so this is only the
frame around the caller's block: ``BEGIN IMMEDIATE`` (the write lock up front), the
block's steps on the driver's own connection, ``COMMIT`` when it ends normally and
``ROLLBACK`` (then re-raise) when anything, Ctrl-C included, escapes it. A module of its
own, as ``drivers.http_interactive`` is for HTTP, so ``drivers.local`` keeps to the
connection and its one-call transactions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Row, Step
from migrate_tasks.errors import DatabaseError

if TYPE_CHECKING:
    from migrate_tasks.drivers.local import LocalDriver


class LocalTransaction:
    """The open transaction of ``LocalDriver.interactive_transaction``."""

    def __init__(self, driver: LocalDriver) -> None:
        self._driver = driver
        self.closed = False

    def run(self, steps: Sequence[Step]) -> list[list[Row]]:
        """Each step on the transaction's connection; the first failure raises."""
        if self.closed:
            raise DatabaseError("the transaction has ended", "TRANSACTION_CLOSED")
        run = self._driver._execute
        return [run(i, step.sql, step.params) for i, step in enumerate(steps)]


@contextlib.contextmanager
def interactive_transaction(driver: LocalDriver) -> Iterator[LocalTransaction]:
    """BEGIN IMMEDIATE on ``driver``'s connection; COMMIT when the block ends normally,
    ROLLBACK (then re-raise) when it raises."""
    driver._materialise()
    driver._control("BEGIN IMMEDIATE", "could not start a transaction")
    transaction = LocalTransaction(driver)
    try:
        yield transaction
        transaction.closed = True
        driver._control("COMMIT", "COMMIT failed, nothing of this unit was applied")
    except BaseException:  # also Ctrl-C: never leave the transaction open
        transaction.closed = True
        driver._rollback()
        raise
