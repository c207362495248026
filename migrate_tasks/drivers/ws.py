"""sqld over WebSocket (``ws://``/``wss://``) through libsql-client.

A unit runs as ONE transaction on ONE Hrana stream, sent as batches of our own
(``drivers.ws_batches``): one round trip for a unit that fits in one message (up to
``chunk_max_steps`` steps and ``chunk_max_bytes`` of SQL), one per chunk for a bigger
or streamed one, never one per statement; each batch's ``step_errors`` name the failing
step. ``foreign_keys_off`` puts ``PRAGMA foreign_keys=OFF`` before the ``BEGIN`` on the
same stream. Many units go in ONE batch message (``run_groups``). libsql-client's public
API offers only ``batch()`` (one message, whose error does not say which step failed)
or a transaction that sends one statement per round trip (15,600 INSERTs: 7 s instead
of 0.3 s), so the batches go through its stream API (``ws_client.RawStream``) on a
client of our own (``ws_client.open_client``).

libsql-client runs its event loop on a non-daemon thread: an unclosed client
hangs the process at exit, so ``close()`` is idempotent and always reachable.

When the WebSocket just closes (sqld does that for an expired or garbage token,
and when a read-only token writes), we ask the same server over HTTP with the
same token, to tell an auth problem from a network one in the server's words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import aiohttp
import libsql_client

from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.config.urls import redact_url
from migrate_tasks.drivers import ws_batches
from migrate_tasks.drivers.base import Group, GroupsOutcome, Row, Step
from migrate_tasks.drivers.hrana import INTERRUPTED_CODES, auth_message, interrupted_error, to_hrana
from migrate_tasks.drivers.ws_client import open_client, quietly
from migrate_tasks.errors import (
    AuthFailed,
    ConnectionFailed,
    DatabaseError,
    MigrateError,
    StatementError,
    UsageError,
)

if TYPE_CHECKING:
    from migrate_tasks.drivers.ws_interactive import WsTransaction

log = logging.getLogger("migrate_tasks")
_CLOSED_CODES = {"HRANA_WEBSOCKET_ERROR", "CLIENT_CLOSED", "STREAM_CLOSED", "TRANSACTION_CLOSED"}
_READ_PREFIXES = ("SELECT", "EXPLAIN", "VALUES")


class WsDriver:
    """One libsql-client WebSocket connection (one socket, a stream per call)."""

    name = "hrana-ws"
    libsql_syntax = True
    is_server = True
    can_switch_foreign_keys = True  # PRAGMA foreign_keys=OFF before BEGIN, on its stream
    may_be_replica = True
    reads_in_one_round_trip = False  # a stream per step; a refused write closes the socket
    runs_groups = True  # many BEGIN ... COMMIT groups in one batch message (drivers.groups)
    #: ``run_groups`` budgets per message, as for HTTP (``HranaHttpDriver.group_max_steps``):
    #: 5,000 steps and 2 MiB of SQL stay far below sqld's message limit, and the reply
    #: (no rows asked for but the lease's) below aiohttp's 4 MiB receive limit.
    group_max_steps = defaults.BATCH_STEPS
    group_max_bytes = defaults.BATCH_BYTES
    interactive_transactions = True  # a Hrana stream of our own (drivers.ws_interactive)
    #: One batch message holds at most this many steps and bytes of SQL (JSON-escaped)
    #: and parameters, so that it stays far below sqld's ~12 MB message limit and its
    #: reply (about 160 bytes a step) below aiohttp's 4 MiB receive limit.
    chunk_max_steps = 5_000
    chunk_max_bytes = 4 * 1024 * 1024

    def __init__(
        self,
        url: str,
        auth_token: str | None = None,
        *,
        timeout: float = defaults.REQUEST_TIMEOUT_S,
        display_url: str | None = None,
    ) -> None:
        self.display_url = display_url or redact_url(url)
        self._url = url
        self._token = auth_token or None
        # libsql-client has no per-request timeout; ours bounds the HTTP diagnosis only.
        self._timeout = timeout
        try:
            self._client: libsql_client.ClientSync | None = open_client(url, self._token)
        except libsql_client.LibsqlError as exc:
            raise UsageError(f"{self.display_url}: {exc.explanation}") from None

    def __repr__(self) -> str:
        return f"<WsDriver {self.display_url}>"

    def __enter__(self) -> WsDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement on its own stream (autocommit) and return its rows."""
        client = self._open()
        args = _args(params, None)
        write = not sql.lstrip().upper().startswith(_READ_PREFIXES)
        result = self._call(client.execute, sql, args, index=None, write=write)
        return _rows(result)

    def query_many(self, steps: Sequence[Step]) -> list[list[Row] | DatabaseError]:
        """Each step on its own stream, in order (libsql-client has no pipeline of
        independent requests); a failing one does not stop the rest."""
        answers: list[list[Row] | DatabaseError] = []
        for step in steps:
            try:
                answers.append(self.query(step.sql, step.params))
            except DatabaseError as exc:  # connection and auth failures are not
                answers.append(exc)
        return answers

    def run_atomic(
        self, steps: Sequence[Step], *, foreign_keys_off: bool = False
    ) -> list[list[Row]]:
        """BEGIN, the steps, COMMIT on one stream, all or nothing: one message (one
        round trip) for a unit that fits in one, else one message per chunk
        (``drivers.ws_batches``). ``foreign_keys_off``: ``PRAGMA foreign_keys=OFF`` before
        the ``BEGIN`` (which runs only if it worked), ``PRAGMA foreign_keys=ON`` after the
        COMMIT or ROLLBACK, on the same stream."""
        results: list[list[Row]] = []
        ws_batches.run_chunked(self, steps, results.append, foreign_keys_off=foreign_keys_off)
        return results

    def run_atomic_iter(self, steps: Iterable[Step], *, foreign_keys_off: bool = False) -> None:
        """The same transaction, consuming ``steps`` lazily, one chunk at a time (memory
        bounded by a chunk); rows are not kept."""
        ws_batches.run_chunked(self, steps, None, foreign_keys_off=foreign_keys_off)

    def run_groups(self, groups: Sequence[Group]) -> GroupsOutcome:
        """Every group its own transaction, all in ONE batch message on a stream of its
        own, closed in the same round trip (``drivers.ws_batches``)."""
        return ws_batches.run_groups(self, groups)

    def interactive_transaction(self) -> AbstractContextManager[WsTransaction]:
        """One transaction on one stream, a round trip per ``run``
        (``drivers.ws_interactive``)."""
        from migrate_tasks.drivers.ws_interactive import interactive_transaction

        return interactive_transaction(self)

    def run_each(self, steps: Sequence[Step]) -> list[list[Row]]:
        """Each step on its own stream, committing on its own; stop at the first failure."""
        client = self._open()
        results = []
        for i, step in enumerate(steps):
            args = _args(step.params, i)
            results.append(_rows(self._call(client.execute, step.sql, args, index=i, write=True)))
        return results

    def ending(self) -> None:
        """Nothing to do: each batch has its own stream."""

    def close(self) -> None:
        """Stop libsql-client's event-loop thread; safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            quietly(client.close)

    # -- internals ------------------------------------------------------------

    def _open(self) -> libsql_client.ClientSync:
        if self._client is None:
            raise DatabaseError(f"{self.display_url}: the driver is closed", "CLIENT_CLOSED")
        return self._client

    def _call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        index: int | None,
        write: bool,
        what: str | None = None,
    ) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            error = self._translate(exc, index=index, write=write, what=what)
            if error is None:
                raise
            raise error from None

    def _translate(
        self, exc: Exception, *, index: int | None, write: bool, what: str | None
    ) -> MigrateError | None:
        if isinstance(exc, libsql_client.LibsqlError):
            code, text = exc.code, exc.explanation
            if code.startswith("AUTH_"):
                return AuthFailed(
                    auth_message(
                        self.display_url,
                        f"{code} {text}",
                        has_token=bool(self._token),
                        forbidden=False,
                    )
                )
            if code in INTERRUPTED_CODES:
                return interrupted_error(code, self.display_url)
            if code in _CLOSED_CODES:
                return self._diagnose(f"the WebSocket was closed ({text})", write)
            if code.startswith("URL_"):
                return UsageError(f"{self.display_url}: {text}")
            if what is not None:
                return DatabaseError(f"{what}: {text}", code)
            return (
                StatementError(index, text, code)
                if index is not None
                else DatabaseError(text, code)
            )
        if isinstance(exc, asyncio.TimeoutError):  # aiohttp's own limit; its message is empty
            return ConnectionFailed(f"cannot reach {self.display_url}: no answer (timed out)")
        if isinstance(exc, aiohttp.ClientConnectorError):  # never connected: no point asking again
            return ConnectionFailed(f"cannot reach {self.display_url}: {_describe(exc)}")
        if isinstance(exc, aiohttp.WSServerHandshakeError):
            return ConnectionFailed(
                f"cannot reach {self.display_url}: the WebSocket handshake was refused "
                f"(HTTP {exc.status} {exc.message}); is this a libSQL server?"
            )
        if isinstance(exc, aiohttp.WebSocketError):  # e.g. a reply over the size limit
            return ConnectionFailed(
                f"the WebSocket connection to {self.display_url} failed: {exc}"
                + (
                    "; the unit may or may not have been applied, so check the migration"
                    " history before retrying"
                    if write
                    else ""
                )
            )
        if isinstance(exc, (aiohttp.ClientError, OSError)):
            return self._diagnose(_describe(exc), write)
        return None

    def _diagnose(self, detail: str, write: bool) -> MigrateError:
        """The socket closed under us: an auth refusal or a network problem?"""
        from migrate_tasks.drivers.pipeline import PipelineClient  # only on this rare path

        http_url = "http" + self._url[2:]  # ws:// -> http://, wss:// -> https://
        probe = PipelineClient(
            http_url, self._token, timeout=min(self._timeout, 10.0), display_url=self.display_url
        )
        try:
            probe.check_access(write=write)
        except AuthFailed as exc:
            return AuthFailed(
                f"{exc} (the WebSocket was closed; the same server said this over HTTP)"
            )
        except MigrateError:
            pass
        finally:
            probe.close()
        message = f"cannot reach {self.display_url}: {scrub(detail, self._token)}"
        if write:
            message += (
                "; a unit in flight may or may not have been applied, so check the migration"
                " history before retrying"
            )
        return ConnectionFailed(message)


def _args(params: Sequence[Any], index: int | None) -> list[Any]:
    """Check parameters the same way the HTTP driver does, before anything is sent."""
    try:
        for value in params:
            to_hrana(value)
    except ValueError as exc:
        raise StatementError(index or 0, f"bad parameter: {exc}", "ARGS_INVALID") from None
    return [bytes(v) if isinstance(v, (bytearray, memoryview)) else v for v in params]


def _rows(result: Any) -> list[Row]:
    return [tuple(row.astuple()) for row in result.rows]


def _describe(exc: BaseException) -> str:
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError):
        return f"{type(os_error).__name__}: {os_error.strerror or os_error}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
