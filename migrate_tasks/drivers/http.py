"""sqld over HTTP: a small Hrana v3 client on the standard library.

Why our own: libsql-client is archived, speaks Hrana v1 over HTTP (no step
errors, no PRAGMA before BEGIN on one stream), imports aiohttp, hangs at exit
when not closed, and hides sqld's 401/403 text. One ``POST /v3/pipeline`` holding
``BEGIN``, the steps (each conditional on the previous one), ``COMMIT`` and a
conditional ``ROLLBACK`` is all-or-nothing in one round trip, and its
``step_errors`` tell exactly which step failed. The connection is ``PipelineClient``'s
(``drivers.pipeline``); every request of a run goes on one kept Hrana stream
(``drivers.hrana_session``), a unit too big to hold in chunks on that stream
(``drivers.http_stream``), and many units in one request (``run_groups``,
``drivers.groups``).

We never send Hrana ``describe``: on sqld it creates vector-index shadow tables
early and leaves the index empty (docs/libsql-notes.md §5).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from migrate_tasks.config import defaults
from migrate_tasks.drivers.base import Group, GroupsOutcome, Row, Step
from migrate_tasks.drivers.groups import GroupBatch, after_parse_error
from migrate_tasks.drivers.hrana import (
    BEGIN,
    FOREIGN_KEYS_OFF,
    FOREIGN_KEYS_ON,
    JSON,
    commit_error,
    control_step,
    error_text,
    ok_condition,
    result_rows,
    statement,
    step_error,
)
from migrate_tasks.drivers.hrana_session import Session
from migrate_tasks.drivers.http_stream import (
    Chunk,
    Stream,
    abort_stream,
    begin_stream,
    flush,
    stream_step,
)
from migrate_tasks.drivers.pipeline import PipelineClient, batch_error, response
from migrate_tasks.errors import DatabaseError, StatementError

if TYPE_CHECKING:
    from migrate_tasks.drivers.http_interactive import HttpTransaction


class HranaHttpDriver:
    """sqld over one keep-alive HTTP(S) connection speaking ``/v3/pipeline``."""

    name = "hrana-http"
    libsql_syntax = True
    is_server = True
    can_switch_foreign_keys = True  # PRAGMA foreign_keys=OFF before BEGIN, in one batch
    may_be_replica = True
    reads_in_one_round_trip = True  # query_many is one pipeline
    runs_groups = True  # many BEGIN ... COMMIT groups in one batch (drivers.groups)
    #: ``run_groups`` budgets per request. Steps: a migration of two statements is about
    #: 12 steps with its tracking rows and lease, so 5,000 carry about 400 such migrations
    #: (200 in one request); the time goes to sqld and the link, not to the request's
    #: size (W3, 200 migrations at 20 ms per round trip: benchmarks/README.md), while
    #: the response stays far below sqld's 10 MB cap (no rows are asked for but the
    #: lease's). Bytes: 2 MiB of SQL keeps one request (and our memory) bounded where
    #: big data migrations meet a proxy's body limit; a unit bigger than that goes alone.
    group_max_steps = defaults.BATCH_STEPS
    group_max_bytes = defaults.BATCH_BYTES
    interactive_transactions = True  # a Hrana stream carried by its baton
    #: ``run_atomic_iter`` sends a request when its chunk reaches this many steps or
    #: bytes of JSON, ... (2M small INSERTs on loopback ran as fast with 500 as with
    #: 20,000 steps a request: sqld is the bottleneck. 5,000 (~0.6 MB) keeps requests
    #: few for slow links, 400 for 2M steps, and the client under 30 MB RSS.)
    chunk_max_steps = 5_000
    chunk_max_bytes = 2 * 1024 * 1024
    #: ... or when this long has passed since the last request, so that a slow producer
    #: never leaves the stream idle for sqld's 10 s expiry.
    chunk_max_seconds = 2.0

    def __init__(
        self,
        url: str,
        auth_token: str | None = None,
        *,
        timeout: float = defaults.REQUEST_TIMEOUT_S,
        ca_file: str | None = None,
        display_url: str | None = None,
        host_header: str | None = None,
    ) -> None:
        self._client = PipelineClient(
            url,
            auth_token,
            timeout=timeout,
            ca_file=ca_file,
            display_url=display_url,
            host_header=host_header,
        )
        self.display_url = self._client.display_url
        self._session = Session(self._client)

    def __repr__(self) -> str:
        return f"<HranaHttpDriver {self.display_url}>"

    def __enter__(self) -> HranaHttpDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the Driver protocol -------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement (autocommit) and return its rows."""
        stmt = JSON.encode({"type": "execute", "stmt": statement(sql, params, index=0)})
        results = self._session.send([stmt], idempotent=True, keep=False)["results"]
        return result_rows(response(results, 0, self.display_url)["result"])

    def query_many(self, steps: Sequence[Step]) -> list[list[Row] | DatabaseError]:
        """Every step as its own ``execute`` request of ONE pipeline (autocommit each): sqld answers each request on its own, so one failing read
        does not stop the others. Only reads are meant to go here; a read is safe to
        send again on a fresh connection, a write might have landed."""
        if not steps:
            return []
        requests = [
            JSON.encode({"type": "execute", "stmt": statement(step.sql, step.params, i)})
            for i, step in enumerate(steps)
        ]
        results = self._session.send(requests, idempotent=True, keep=False)["results"]
        if len(results) != len(requests):
            raise DatabaseError(
                f"{self.display_url}: the server answered {len(requests)} requests with"
                f" {len(results)} results",
                "HRANA_PROTO_ERROR",
            )
        answers: list[list[Row] | DatabaseError] = []
        for i in range(len(steps)):
            try:
                answers.append(result_rows(response(results, i, self.display_url)["result"]))
            except DatabaseError as exc:
                answers.append(exc)
        return answers

    def run_atomic(
        self, steps: Sequence[Step], *, foreign_keys_off: bool = False
    ) -> list[list[Row]]:
        """BEGIN, every step, COMMIT (ROLLBACK unless it committed) in one request.

        ``foreign_keys_off``: the same batch, on the same stream, starts with
        ``PRAGMA foreign_keys=OFF`` (BEGIN runs only if it worked) and ends with
        ``PRAGMA foreign_keys=ON`` after the COMMIT or ROLLBACK.
        """
        if not steps:
            return []
        n = len(steps)
        batch: list[dict[str, Any]] = []
        if foreign_keys_off:
            batch.append({"stmt": {"sql": FOREIGN_KEYS_OFF, "want_rows": False}})
        begin = len(batch)  # index of BEGIN; step i is at begin + 1 + i
        batch.append(control_step(BEGIN, ok_condition(begin - 1) if begin else None))
        for i, step in enumerate(steps):
            batch.append(
                {"stmt": statement(step.sql, step.params, i), "condition": ok_condition(begin + i)}
            )
        commit = begin + n + 1
        batch.append(control_step("COMMIT", ok_condition(commit - 1)))
        batch.append(control_step("ROLLBACK", {"type": "not", "cond": ok_condition(commit)}))
        if foreign_keys_off:
            batch.append(control_step(FOREIGN_KEYS_ON, None))
        result = self._batch(batch, steps)
        outcomes, errors = result["step_results"], result["step_errors"]
        if begin and errors[0] is not None:
            message, code = error_text(errors[0])
            raise DatabaseError(f"could not turn foreign keys off: {message}", code)
        if errors[begin] is not None:
            message, code = error_text(errors[begin])
            raise DatabaseError(f"could not start a transaction: {message}", code)
        for i in range(n):
            if errors[begin + 1 + i] is not None:
                raise step_error(i, errors[begin + 1 + i], self.display_url)
        if errors[commit] is not None or outcomes[commit] is None:
            raise commit_error(errors[commit], self.display_url)
        return [result_rows(outcomes[begin + 1 + i]) for i in range(n)]

    def run_atomic_iter(self, steps: Iterable[Step], *, foreign_keys_off: bool = False) -> None:
        """Stream a unit of any size through ONE transaction on ONE Hrana stream
        (``drivers.http_stream``), a request whenever a chunk is full.

        Memory: one chunk of steps and its request body. (Sending chunk k+1 before
        reading chunk k's answer was measured too: no faster, as sqld is the
        bottleneck, so requests stay strictly one at a time.)

        ``foreign_keys_off``: the first request sends ``PRAGMA foreign_keys=OFF`` before
        ``BEGIN`` on the new stream, the last one ``PRAGMA foreign_keys=ON`` after the
        COMMIT or ROLLBACK (as does the ROLLBACK after a failure).
        """
        stream: Stream | None = None
        clean = False
        chunk: list[Step] = []
        encoded: list[str] = []
        size = 0
        start = 0  # global index of chunk[0]
        try:
            for i, step in enumerate(steps):
                if stream is None:
                    stream = begin_stream(self._session, foreign_keys_off=foreign_keys_off)
                text = stream_step(step, i, len(chunk))
                chunk.append(step)
                encoded.append(text)
                size += len(text) + 1
                if (
                    len(chunk) >= self.chunk_max_steps
                    or size >= self.chunk_max_bytes
                    or time.monotonic() - stream.last_sent >= self.chunk_max_seconds
                ):
                    flush(stream, Chunk(chunk, encoded, start, final=False), self.display_url)
                    start += len(chunk)
                    chunk, encoded, size = [], [], 0
            if stream is not None:
                flush(stream, Chunk(chunk, encoded, start, final=True), self.display_url)
            clean = True
        except BaseException:  # also Ctrl-C and errors raised by the iterator itself
            if stream is not None:
                abort_stream(stream)
            raise
        finally:
            if stream is not None:
                stream.release(clean=clean)

    def run_groups(self, groups: Sequence[Group]) -> GroupsOutcome:
        """Every group its own transaction, all in ONE request (``drivers.groups``)."""
        batch = GroupBatch(groups, text=True)
        outcome = self._send_groups(batch) if batch.groups else GroupsOutcome([])
        if batch.bad is not None and outcome.failure is None:
            outcome.failure = batch.bad[1]  # a parameter that cannot be sent
        return outcome

    def _send_groups(self, batch: GroupBatch) -> GroupsOutcome:
        request = ['{"type":"batch","batch":{"steps":[']  # pieces: never joined (``Body``)
        for n, text in enumerate(batch.texts):
            request += (",", text) if n else (text,)
        request.append("]}}")
        answer = self._session.send([request], idempotent=False)
        del request
        results = answer["results"]
        error = batch_error(results, 0, batch.count, self.display_url)
        if error is None:
            return batch.outcome(results[0]["response"]["result"], self.display_url)
        if not (error.code or "").startswith("SQL_"):
            raise error
        # sqld refused to parse one statement, so nothing ran: find it
        try:
            self._client.locate_parse_error([s for g in batch.groups for s in g.steps])
        except StatementError as exc:
            return after_parse_error(batch, exc, self.run_groups)
        raise error

    def interactive_transaction(self) -> AbstractContextManager[HttpTransaction]:
        """One transaction on one Hrana stream, a request per ``run``
        (``drivers.http_interactive``)."""
        from migrate_tasks.drivers.http_interactive import interactive_transaction

        return interactive_transaction(self._session)

    def run_each(self, steps: Sequence[Step]) -> list[list[Row]]:
        """Each step autocommits; a step runs only if the one before it succeeded."""
        if not steps:
            return []
        batch: list[dict[str, Any]] = []
        for i, step in enumerate(steps):
            entry: dict[str, Any] = {"stmt": statement(step.sql, step.params, i)}
            if i:
                entry["condition"] = ok_condition(i - 1)
            batch.append(entry)
        try:
            result = self._batch(batch, steps)
        except StatementError as exc:
            # A step sqld cannot parse refuses the whole batch before anything runs;
            # run the steps before it so the outcome matches the other drivers.
            if exc.index:
                self.run_each(steps[: exc.index])
            raise
        for i, error in enumerate(result["step_errors"]):
            if error is not None:
                message, code = error_text(error)
                raise StatementError(i, message, code)
        return [result_rows(r) for r in result["step_results"]]

    def ending(self) -> None:
        """The next request is the run's last: it closes the kept stream too."""
        self._session.ending()

    def close(self) -> None:
        """Close the kept stream if still open, and the keep-alive connection; safe to
        call twice."""
        self._session.close()

    # -- transport ------------------------------------------------------------

    def _batch(self, steps: list[dict[str, Any]], user: Sequence[Step]) -> dict[str, Any]:
        request = JSON.encode({"type": "batch", "batch": {"steps": steps}})
        results = self._session.send([request], idempotent=False)["results"]
        try:
            result = response(results, 0, self.display_url)["result"]
        except DatabaseError as exc:
            # sqld parses every step before running any: one bad step fails the
            # whole request, without saying which. Nothing ran; find it.
            if (exc.code or "").startswith("SQL_"):
                self._client.locate_parse_error(user)
            raise
        if len(result.get("step_results", ())) != len(steps) or len(
            result.get("step_errors", ())
        ) != len(steps):
            raise DatabaseError(
                f"{self.display_url}: the server answered a batch of {len(steps)} steps with "
                "a different number of results",
                "HRANA_PROTO_ERROR",
            )
        return result
