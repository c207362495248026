"""Our own Hrana batches on a stream of libsql-client's WebSocket: one unit as ONE
transaction sent in chunks (``run_chunked``), and many units in ONE batch message
(``run_groups``).

A unit's batches: the first opens with ``BEGIN`` (after ``PRAGMA foreign_keys=OFF``,
and only if it worked, when the unit asks for foreign keys off), the last ends with
``COMMIT``, a ``ROLLBACK`` unless it committed (and ``PRAGMA foreign_keys=ON``). Every
step runs only if the one before it in its batch succeeded, and a batch goes out only
after the one before it succeeded, so nothing runs after a failure; each batch's
``step_errors`` name the failing step. On a ``hrana3`` socket a later batch's first step
(or its bare COMMIT) also requires the stream to be inside the transaction still: if sqld
ended it between two batches, nothing may run in autocommit mode (as over HTTP). The PRAGMA must be on the transaction's own
stream (one connection on the server) and before its ``BEGIN``: SQLite ignores it inside
a transaction (docs/libsql-notes.md §6).

The groups of ``run_groups`` are ``drivers.groups``'s, guarded by ``not is_autocommit``
when the server speaks ``hrana3`` (``ws_client.open_client`` offers it), a plain
ok-chain on ``hrana2``. sqld parses a whole batch before running any of it: a statement
it cannot parse fails the message with nothing run, and ``locate_parse_error`` finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import libsql_client

from migrate_tasks.drivers.base import Group, GroupsOutcome, Row, Step
from migrate_tasks.drivers.groups import GroupBatch, after_parse_error
from migrate_tasks.drivers.hrana import (
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
    result_rows,
    statement,
    step_error,
)
from migrate_tasks.drivers.ws_client import RawStream
from migrate_tasks.errors import DatabaseError, StatementError

if TYPE_CHECKING:
    from migrate_tasks.drivers.ws import WsDriver

Keep = Callable[[list[Row]], object]


def run_chunked(
    driver: WsDriver, steps: Iterable[Step], keep: Keep | None, *, foreign_keys_off: bool
) -> None:
    """One transaction on one stream, sent as batches of at most ``chunk_max_steps``
    steps and ``chunk_max_bytes`` of SQL (the driver's). A batch goes out only after the
    one before it succeeded; a failing step raises with its global index. ``keep``
    receives each step's rows (None: rows are not even asked for). Any exception, also
    one raised by ``steps`` itself, rolls back and propagates."""
    stream: RawStream | None = None
    chunk: list[tuple[Step, dict[str, Any]]] = []
    size = start = 0  # start: global index of chunk[0]
    try:
        for i, step in enumerate(steps):
            stmt = statement(step.sql, step.params, i, rows=keep is not None)
            chunk.append((step, stmt))
            size += len(encode_text(step.sql)) + (
                len(JSON.encode(stmt["args"])) if step.params else 0
            )
            if len(chunk) >= driver.chunk_max_steps or size >= driver.chunk_max_bytes:
                stream = stream or _open(driver, foreign_keys_off)
                _send_chunk(driver, stream, chunk, start, final=False, keep=keep)
                start, chunk, size = start + len(chunk), [], 0
        if stream is None and not chunk:
            return  # nothing to run: not even a stream
        stream = stream or _open(driver, foreign_keys_off)
        _send_chunk(driver, stream, chunk, start, final=True, keep=keep)
    except BaseException:  # also Ctrl-C and errors raised by the iterator itself
        if stream is not None:
            stream.abort()
        raise
    finally:
        if stream is not None:
            stream.close()


def _open(driver: WsDriver, foreign_keys_off: bool) -> RawStream:
    stream = RawStream(driver._open())
    stream.foreign_keys_off = foreign_keys_off
    stream.guard = driver._call(stream.protocol, index=None, write=True) == "hrana3"
    return stream


def _send_chunk(
    driver: WsDriver,
    stream: RawStream,
    chunk: list[tuple[Step, dict[str, Any]]],
    start: int,
    *,
    final: bool,
    keep: Keep | None,
) -> None:
    """Send one batch of the transaction and raise for its first failure."""
    batch: list[dict[str, Any]] = []
    if start == 0:  # the first batch opens the transaction
        if stream.foreign_keys_off:
            batch.append(control_step(FOREIGN_KEYS_OFF, None))
        batch.append(control_step(BEGIN, ok_condition(0) if batch else None))
    first = len(batch)  # index of chunk[0] in the batch
    # A later batch's first step: only if the stream is still inside the transaction
    # (sqld may end it between two batches; the steps must not run in autocommit).
    opening = IN_TRANSACTION if stream.guard else None
    for _, stmt in chunk:
        condition = ok_condition(len(batch) - 1) if batch else opening
        batch.append({"stmt": stmt, "condition": condition} if condition else {"stmt": stmt})
    commit = len(batch)
    if final:
        batch.append(control_step("COMMIT", ok_condition(commit - 1) if commit else opening))
        batch.append(control_step("ROLLBACK", {"type": "not", "cond": ok_condition(commit)}))
        if stream.foreign_keys_off:
            batch.append(control_step(FOREIGN_KEYS_ON, None))
    try:
        result = driver._call(stream.batch, batch, final, index=None, write=True)
    except DatabaseError as exc:
        if (exc.code or "").startswith("SQL_") and chunk:
            # sqld parses a whole batch before running any of it: find the step.
            locate_parse_error(driver, stream.client, [step for step, _ in chunk], start)
        raise
    outcomes, errors = step_lists(result, len(batch), driver.display_url)
    if first:
        _check_opening(errors[:first])
    display = driver.display_url
    for j in range(len(chunk)):
        error = errors[first + j]
        if error is not None:
            raise step_error(start + j, error, display)
        if outcomes[first + j] is None:  # skipped without an error: no transaction any more
            raise interrupted_error("TRANSACTION_TIMEOUT", display)
        if keep is not None:
            keep(result_rows(outcomes[first + j]))
    if final:
        stream.done = True
        if errors[commit] is None and outcomes[commit] is None:
            raise interrupted_error("TRANSACTION_TIMEOUT", display)
        if errors[commit] is not None:
            raise commit_error(errors[commit], display)


def _check_opening(errors: list[Any]) -> None:
    """Raise if ``PRAGMA foreign_keys=OFF`` (when sent: two steps) or ``BEGIN`` failed."""
    what = ["could not turn foreign keys off", "could not start a transaction"][-len(errors) :]
    for error, doing in zip(errors, what, strict=True):
        if error is not None:
            message, code = error_text(error)
            raise DatabaseError(f"{doing}: {message}", code)


def locate_parse_error(
    driver: WsDriver, client: libsql_client.ClientSync, steps: list[Step], offset: int
) -> None:
    """Raise ``StatementError`` for the first step sqld cannot parse: each step in its
    own batch under a condition that is never true (parsed, never run; no
    ``describe``), all sent at once on a stream of their own."""
    never = {"type": "or", "conds": []}
    batches = [[{"stmt": {"sql": s.sql}, "condition": never}] for s in steps]
    probe = RawStream(client)
    try:
        answers = driver._call(probe.batches, batches, index=None, write=False)
    finally:
        probe.close()
    for i, answer in enumerate(answers):
        if isinstance(answer, libsql_client.LibsqlError):
            raise StatementError(offset + i, answer.explanation, answer.code) from None


def run_groups(driver: WsDriver, groups: Sequence[Group]) -> GroupsOutcome:
    """Every group its own transaction, all in ONE batch message on a stream of its own,
    closed in the same round trip (``drivers.groups``)."""
    if not groups:
        return GroupsOutcome([])
    stream = RawStream(driver._open())
    try:
        hrana3 = driver._call(stream.protocol, index=None, write=True) == "hrana3"
        batch = GroupBatch(groups, guard=hrana3)
        outcome = _send_groups(driver, stream, batch) if batch.groups else GroupsOutcome([])
    finally:
        stream.close()
    if batch.bad is not None and outcome.failure is None:
        outcome.failure = batch.bad[1]  # a parameter that cannot be sent
    return outcome


def _send_groups(driver: WsDriver, stream: RawStream, batch: GroupBatch) -> GroupsOutcome:
    try:
        result = driver._call(stream.batch, batch.steps, True, index=None, write=True)
    except DatabaseError as exc:
        if not (exc.code or "").startswith("SQL_"):
            raise
        # sqld refused to parse one statement, so nothing ran: find it
        steps = [s for g in batch.groups for s in g.steps]
        try:
            locate_parse_error(driver, stream.client, steps, 0)
        except StatementError as located:
            return after_parse_error(batch, located, driver.run_groups)
        raise
    step_lists(result, len(batch.steps), driver.display_url)
    return batch.outcome(result, driver.display_url)


def step_lists(result: Any, steps: int, display: str) -> tuple[list[Any], list[Any]]:
    """A batch result's outcomes and errors, checking that it answered every step."""
    outcomes = result.get("step_results") if isinstance(result, dict) else None
    errors = result.get("step_errors") if isinstance(result, dict) else None
    if not (isinstance(outcomes, list) and isinstance(errors, list)) or not (
        len(outcomes) == steps == len(errors)
    ):
        raise DatabaseError(
            f"{display}: the server answered a batch of {steps} steps with a different"
            " number of results",
            "HRANA_PROTO_ERROR",
        )
    return outcomes, errors
