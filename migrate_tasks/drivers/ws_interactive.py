"""An interactive transaction over WebSocket: one Hrana stream on libsql-client's
socket, for code that reads rows and decides what to write next.

libsql-client's own ``transaction()`` sends one statement per round trip; this sends
``BEGIN`` on a new stream (``ws_client.RawStream``), each ``run`` as one batch (every
step conditional on the one before it, so ``executemany`` is one round trip), and at
the end ``COMMIT`` with a ``ROLLBACK`` unless it committed, closing the stream in the
same message. On a ``hrana3`` socket the first step of each batch, and the COMMIT, also
require the stream to be inside the transaction still (``not is_autocommit``): if sqld
ended it between two batches, nothing may run in autocommit mode. A failure sends the
same best-effort ``ROLLBACK`` as a unit's batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from migrate_tasks.drivers.base import Row, Step
from migrate_tasks.drivers.hrana import (
    BEGIN,
    IN_TRANSACTION,
    commit_error,
    control_step,
    error_text,
    interrupted_error,
    ok_condition,
    statement,
    transaction_rows,
)
from migrate_tasks.drivers.ws_batches import locate_parse_error, step_lists
from migrate_tasks.drivers.ws_client import RawStream
from migrate_tasks.errors import DatabaseError

if TYPE_CHECKING:
    from migrate_tasks.drivers.ws import WsDriver


class WsTransaction:
    """The open transaction of ``WsDriver.interactive_transaction``."""

    def __init__(self, driver: WsDriver, stream: RawStream) -> None:
        self._driver = driver
        self.stream = stream
        self.closed = False

    def run(self, steps: Sequence[Step]) -> list[list[Row]]:
        """The steps as one batch on the transaction's stream; their rows."""
        if self.closed:
            raise DatabaseError("the transaction has ended", "TRANSACTION_CLOSED")
        if not steps:
            return []
        batch = [
            {"stmt": statement(step.sql, step.params, i), **self._after(i)}
            for i, step in enumerate(steps)
        ]
        outcomes, errors = self._send(batch, close=False, parse_errors=steps)
        return transaction_rows(outcomes, errors, self._driver.display_url)

    def begin(self) -> None:
        _, errors = self._send([control_step(BEGIN, None)], close=False)
        if errors[0] is not None:
            message, code = error_text(errors[0])
            raise DatabaseError(f"could not start a transaction: {message}", code)

    def commit(self) -> None:
        self.closed = True
        batch = [
            control_step("COMMIT", self._opening()),
            control_step("ROLLBACK", {"type": "not", "cond": ok_condition(0)}),
        ]
        outcomes, errors = self._send(batch, close=True)
        self.stream.done = True
        if errors[0] is None and outcomes[0] is None:  # not inside the transaction any more
            raise interrupted_error("TRANSACTION_TIMEOUT", self._driver.display_url)
        if errors[0] is not None:
            raise commit_error(errors[0], self._driver.display_url)

    def _opening(self) -> dict[str, object] | None:
        """The condition of a batch's first step: the stream is still inside the
        transaction (sqld may end it between two batches), where the socket speaks
        ``hrana3``; else none."""
        return IN_TRANSACTION if self.stream.guard else None

    def _after(self, i: int) -> dict[str, object]:
        condition = ok_condition(i - 1) if i else self._opening()
        return {"condition": condition} if condition else {}

    def _send(
        self, batch: list[dict[str, object]], *, close: bool, parse_errors: Sequence[Step] = ()
    ) -> tuple[list[object], list[object]]:
        driver = self._driver
        try:
            result = driver._call(self.stream.batch, batch, close, index=None, write=True)
        except DatabaseError as exc:
            if (exc.code or "").startswith("SQL_") and parse_errors:
                # sqld parses a whole batch before running any of it: find the step.
                locate_parse_error(driver, self.stream.client, list(parse_errors), 0)
            raise
        return step_lists(result, len(batch), driver.display_url)


@contextlib.contextmanager
def interactive_transaction(driver: WsDriver) -> Iterator[WsTransaction]:
    """BEGIN on a new stream; COMMIT when the block ends normally, ROLLBACK when it
    raises (which then propagates unchanged); the stream is closed either way."""
    stream = RawStream(driver._open())
    transaction = WsTransaction(driver, stream)
    try:
        try:
            stream.guard = driver._call(stream.protocol, index=None, write=True) == "hrana3"
            transaction.begin()
            yield transaction
            transaction.commit()
        except BaseException:  # also Ctrl-C and a failed COMMIT
            transaction.closed = True
            stream.abort()
            raise
    finally:
        stream.close()
