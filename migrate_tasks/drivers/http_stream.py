"""One transaction of any size over HTTP: a Hrana stream carried from request to request.

``BEGIN`` goes out on the run's kept stream (``drivers.hrana_session``; its baton carries
the transaction from request to request); then each chunk of steps is one ``batch``
request, every step conditional on the one before it, so nothing runs after a failure;
the last chunk carries ``COMMIT`` and hands the stream back to the session (after a
failure it is rolled back, closed and forgotten). The first step of a chunk also requires the stream to be inside a
transaction still: if sqld ended it between two requests, no step may run in
autocommit mode. ``HranaHttpDriver.run_atomic_iter`` decides when a chunk is full.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from migrate_tasks.drivers.base import Step
from migrate_tasks.drivers.hrana import (
    ABORT_TIMEOUT,
    BEGIN,
    FOREIGN_KEYS_OFF,
    FOREIGN_KEYS_ON,
    IN_TRANSACTION,
    JSON,
    commit_error,
    control_step,
    encode_text,
    error_text,
    interrupted_error,
    ok_condition,
    statement,
    step_error,
)
from migrate_tasks.drivers.hrana_session import Session
from migrate_tasks.drivers.pipeline import batch_error, pipeline_body
from migrate_tasks.errors import DatabaseError

log = logging.getLogger("migrate_tasks")

#: A stream whose transaction sqld ended behind our back reports autocommit mode.
_IN_TRANSACTION_JSON = json.dumps(IN_TRANSACTION, separators=(",", ":"))


class Chunk:
    """The steps of one request of a streamed unit, and their JSON."""

    def __init__(self, steps: list[Step], encoded: list[str], start: int, *, final: bool):
        self.steps = steps
        self.encoded = encoded
        self.start = start  # global index of steps[0]
        self.final = final


class Stream:
    """The state of one open Hrana stream: where to send, and its current baton."""

    def __init__(self, session: Session) -> None:
        assert session.baton is not None
        self.session = session
        self.target = session.target
        self.baton: str | None = session.baton
        self.last_sent = time.monotonic()
        self.closed = False
        #: The stream runs with foreign keys off: turn them on again before closing it.
        self.foreign_keys_off = False
        #: The final chunk is the run's last request: it closes the stream.
        self.ending = False
        session.busy = True

    def release(self, *, clean: bool) -> None:
        """Give the stream back to the session: to carry on with when the transaction
        ended cleanly (committed or rolled back by the final chunk), else forgotten."""
        session = self.session
        session.busy = False
        if clean and self.closed and self.baton is not None and not self.ending:
            session.baton, session.last = self.baton, self.last_sent
        else:
            session.forget()


def stream_step(step: Step, index: int, position: int) -> str:
    """One step of a streamed chunk as JSON text, conditional on the step before it
    (the first of a chunk: on still being inside the transaction). Built from pieces
    because a ``json.dumps`` per step was a third of the client's time on 2M steps."""
    args = "[]"
    if step.params:
        args = JSON.encode(statement(step.sql, step.params, index)["args"])
    condition = f'{{"type":"ok","step":{position - 1}}}' if position else _IN_TRANSACTION_JSON
    return (
        f'{{"stmt":{{"sql":{encode_text(step.sql)},"args":{args},"want_rows":false}},'
        f'"condition":{condition}}}'
    )


def begin_stream(session: Session, *, foreign_keys_off: bool = False) -> Stream:
    """``BEGIN`` on the session's stream (whose ``base_url`` it follows)."""
    steps = [control_step(BEGIN, None)]
    if foreign_keys_off:
        steps = [control_step(FOREIGN_KEYS_OFF, None), control_step(BEGIN, ok_condition(0))]
    begin = json.dumps({"type": "batch", "batch": {"steps": steps}})
    ending, session.closing = session.closing, False  # the last chunk closes, not BEGIN
    answer = session.send([begin], idempotent=True)
    error = batch_error(answer["results"], 0, len(steps), session.client.display_url)
    if error is None:  # the request ran: did its steps?
        result = answer["results"][0]["response"]["result"]
        for outcome, failure in zip(result["step_results"], result["step_errors"], strict=True):
            if failure is not None or outcome is None:
                message, code = error_text(failure or {"message": "it did not run"})
                error = DatabaseError(message, code)
                break
    if error is not None or session.baton is None:
        session.forget()  # foreign keys may be off on it: never reuse it
        message = error.message if error else "the server returned no baton"
        raise DatabaseError(f"could not start a transaction: {message}", error and error.code)
    stream = Stream(session)
    stream.ending = ending
    stream.foreign_keys_off = foreign_keys_off
    return stream


def flush(stream: Stream, chunk: Chunk, display: str) -> None:
    """Send ``chunk`` on the stream's baton and raise for its first failure. The
    final chunk adds ``COMMIT`` (only if every step ran) and a ``ROLLBACK`` unless
    the COMMIT succeeded."""
    encoded, n, start = chunk.encoded, len(chunk.steps), chunk.start
    if chunk.final:
        encoded = [*encoded, *_final_steps(n, stream.foreign_keys_off)]
    batch = '{"type":"batch","batch":{"steps":[' + ",".join(encoded) + "]}}"
    requests = [batch, '{"type":"close"}'] if chunk.final and stream.ending else [batch]
    body = pipeline_body(stream.baton, requests)
    answer = stream.target.send(body, idempotent=False, mid_transaction=not chunk.final)
    stream.last_sent = time.monotonic()
    stream.baton = answer.get("baton")
    stream.closed = chunk.final
    results = answer["results"]
    error = batch_error(results, 0, len(encoded), display)
    if error is not None:
        if (error.code or "").startswith("SQL_") and n:
            # sqld parses the whole batch before running any of it: find the step.
            stream.target.locate_parse_error(chunk.steps, offset=start)
        raise error
    result = results[0]["response"]["result"]
    outcomes, errors = result["step_results"], result["step_errors"]
    for j in range(n):
        if errors[j] is not None:
            raise step_error(start + j, errors[j], display)
        if outcomes[j] is None:  # skipped without an error: no transaction any more
            raise interrupted_error("TRANSACTION_TIMEOUT", display)
    if chunk.final and (errors[n] is not None or outcomes[n] is None):
        if errors[n] is None:
            raise interrupted_error("TRANSACTION_TIMEOUT", display)
        raise commit_error(errors[n], display)


def _final_steps(n: int, foreign_keys_off: bool) -> list[str]:
    """COMMIT if the chunk's last step ran, ROLLBACK unless it committed, then foreign
    keys back on if the stream turned them off."""
    commit_if = ok_condition(n - 1) if n else IN_TRANSACTION
    commit = {"stmt": {"sql": "COMMIT", "want_rows": False}, "condition": commit_if}
    rollback = {
        "stmt": {"sql": "ROLLBACK", "want_rows": False},
        "condition": {"type": "not", "cond": ok_condition(n)},
    }
    steps = [json.dumps(commit), json.dumps(rollback)]
    if foreign_keys_off:
        steps.append(json.dumps(control_step(FOREIGN_KEYS_ON, None)))
    return steps


def abort_stream(stream: Stream) -> None:
    """Best effort ROLLBACK and close, so the write lock is free at once (sqld would
    otherwise keep it until the stream expires). Bounded by a short timeout: the
    original failure is what the user needs to see, soon."""
    target, timeout = stream.target, stream.target.timeout
    target.timeout = min(timeout, ABORT_TIMEOUT)
    try:
        if stream.closed or stream.baton is None:
            return
        stream.closed = True
        target.drop()  # a fresh connection gets the short timeout
        steps: list[dict[str, Any]] = [control_step("ROLLBACK", None)]
        if stream.foreign_keys_off:
            steps.append(control_step(FOREIGN_KEYS_ON, None))
        rollback = json.dumps({"type": "batch", "batch": {"steps": steps}})
        target.send(pipeline_body(stream.baton, [rollback, '{"type":"close"}']), idempotent=True)
    except Exception as exc:
        log.debug("rollback after a failure did not go through: %s", type(exc).__name__)
    finally:
        target.drop()
        target.timeout = timeout
