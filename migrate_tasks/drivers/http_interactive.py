"""An interactive transaction over HTTP: one Hrana stream whose baton carries it from
request to request, for code that reads rows and decides what to write next.

``BEGIN`` opens the stream (``http_stream.begin_stream``); each ``run`` is one ``batch``
request on the current baton, every step conditional on the one before it and the
first on the stream still being inside the transaction (sqld may end it: its 5 s
timeout when another writer waits, or 10 s of idleness between two requests); the end
is the same final request a streamed unit sends (``COMMIT``, a ``ROLLBACK`` unless it
committed, ``close``), and a failure sends the same best-effort ``ROLLBACK``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from migrate_tasks.drivers.base import Row, Step
from migrate_tasks.drivers.hrana import (
    IN_TRANSACTION,
    ok_condition,
    statement,
    transaction_rows,
)
from migrate_tasks.drivers.http_stream import Chunk, Stream, abort_stream, begin_stream, flush
from migrate_tasks.drivers.pipeline import batch_error, pipeline_body
from migrate_tasks.errors import DatabaseError

if TYPE_CHECKING:
    from migrate_tasks.drivers.hrana_session import Session


class HttpTransaction:
    """The open transaction of ``HranaHttpDriver.interactive_transaction``."""

    def __init__(self, stream: Stream, display: str) -> None:
        self.stream = stream
        self.display = display
        self.closed = False

    def run(self, steps: Sequence[Step]) -> list[list[Row]]:
        """The steps as one ``batch`` request on the stream's baton; their rows."""
        if self.closed:
            raise DatabaseError("the transaction has ended", "TRANSACTION_CLOSED")
        if not steps:
            return []
        batch = json.dumps({"type": "batch", "batch": {"steps": _steps(steps)}})
        stream = self.stream
        answer = stream.target.send(
            pipeline_body(stream.baton, [batch]), idempotent=False, mid_transaction=True
        )
        stream.last_sent = time.monotonic()
        stream.baton = answer.get("baton")
        results = answer["results"]
        error = batch_error(results, 0, len(steps), self.display)
        if error is not None:
            if (error.code or "").startswith("SQL_"):
                # sqld parses the whole batch before running any of it: find the step.
                stream.target.locate_parse_error(steps)
            raise error
        result = results[0]["response"]["result"]
        return transaction_rows(result["step_results"], result["step_errors"], self.display)


@contextlib.contextmanager
def interactive_transaction(session: Session) -> Iterator[HttpTransaction]:
    """BEGIN on the run's kept stream (``drivers.hrana_session``); COMMIT when the block
    ends normally (the stream then carries on), ROLLBACK when the block raises (which
    then propagates unchanged; the stream is forgotten)."""
    display = session.client.display_url
    stream = begin_stream(session)
    transaction = HttpTransaction(stream, display)
    clean = False
    try:
        try:
            yield transaction
            transaction.closed = True
            flush(stream, Chunk([], [], 0, final=True), display)
            clean = True
        except BaseException:  # also Ctrl-C and a failed COMMIT
            transaction.closed = True
            abort_stream(stream)
            raise
    finally:
        stream.release(clean=clean)


def _steps(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """Each step conditional on the one before it; the first on the transaction."""
    return [
        {
            "stmt": statement(step.sql, step.params, i),
            "condition": ok_condition(i - 1) if i else IN_TRANSACTION,
        }
        for i, step in enumerate(steps)
    ]
