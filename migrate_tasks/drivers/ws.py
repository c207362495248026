"""sqld over WebSocket (``ws://``/``wss://``) through libsql-client.

libsql-client's ``batch()`` is atomic in one message (BEGIN, steps, COMMIT), so
``run_atomic`` uses it: one round trip per migration. A unit too big for one
message (or whose reply would pass aiohttp's 4 MiB limit) runs statement by
statement inside one interactive transaction instead: slower, still atomic. Its error carries no step
index (the per-step ``step_errors`` are private API), so only after a failure we
replay the steps in an interactive transaction that is always rolled back, to
name the failing statement. If the replay cannot reproduce the failure, the
server's error is raised without an index.

libsql-client runs its event loop on a non-daemon thread: an unclosed client
hangs the process at exit, so ``close()`` is idempotent and always reachable.

When the WebSocket just closes (sqld does that for an expired or garbage token,
and when a read-only token writes), we ask the same server over HTTP with the
same token, to tell an auth problem from a network one in the server's words.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiohttp
import libsql_client

from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.config.urls import connect_host, redact_url
from migrate_tasks.drivers.base import Row, Step
from migrate_tasks.drivers.http import (
    INTERRUPTED_CODES,
    HranaHttpDriver,
    auth_message,
    interrupted_error,
    to_hrana,
)
from migrate_tasks.errors import (
    AuthFailed,
    ConnectionFailed,
    DatabaseError,
    MigrateError,
    StatementError,
    UsageError,
)

log = logging.getLogger("migrate_tasks")
_CLOSED_CODES = {"HRANA_WEBSOCKET_ERROR", "CLIENT_CLOSED", "STREAM_CLOSED", "TRANSACTION_CLOSED"}
_READ_PREFIXES = ("SELECT", "EXPLAIN", "VALUES")


class WsDriver:
    """One libsql-client WebSocket connection (one socket, a stream per call)."""

    name = "hrana-ws"
    libsql_syntax = True
    #: Above these, a unit's batch message or its reply (about 160 bytes a step) could
    #: pass aiohttp's 4 MiB receive limit or sqld's ~12 MB message limit.
    batch_max_steps = 10_000
    batch_max_bytes = 4 * 1024 * 1024

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
            self._client: libsql_client.ClientSync | None = libsql_client.create_client_sync(
                url, auth_token=self._token
            )
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
        """One ``batch()``: BEGIN, the steps, COMMIT in one message, all or nothing."""
        _refuse_foreign_keys_off(foreign_keys_off, self.display_url)
        client = self._open()
        if not steps:
            return []
        stmts = [(step.sql, _args(step.params, i)) for i, step in enumerate(steps)]
        if (
            len(stmts) > self.batch_max_steps
            or sum(len(sql) for sql, _ in stmts) > self.batch_max_bytes
        ):
            log.info(
                "%d statements are too many for one WebSocket batch: running them one by one"
                " in a transaction (the http:// URL of the same server sends them in one"
                " request)",
                len(stmts),
            )
            results: list[list[Row]] = []
            self._run_interactive(client, stmts, results.append)
            return results
        try:
            return [_rows(r) for r in self._call(client.batch, stmts, index=None, write=True)]
        except DatabaseError as exc:
            if isinstance(exc, StatementError) or exc.code in INTERRUPTED_CODES:
                raise
            # The batch rolled back; its error does not say which step failed.
            raise self._locate(client, stmts, exc) from None

    def run_atomic_iter(self, steps: Iterable[Step], *, foreign_keys_off: bool = False) -> None:
        """One interactive transaction, one round trip per step, consuming ``steps``
        lazily: atomic and bounded in memory, but slow (0.3-0.4 ms a step on loopback)."""
        _refuse_foreign_keys_off(foreign_keys_off, self.display_url)
        client = self._open()
        log.info(
            "streaming a unit over WebSocket runs it one statement per round trip in a"
            " transaction; the http:// URL of the same server sends it in large batches"
        )
        stmts = ((step.sql, _args(step.params, i)) for i, step in enumerate(steps))
        self._run_interactive(client, stmts, None)

    def _run_interactive(
        self,
        client: libsql_client.ClientSync,
        stmts: Iterable[tuple[str, list[Any]]],
        keep: Callable[[list[Row]], object] | None,
    ) -> None:
        """One transaction, one statement per round trip: for units too big for one
        WebSocket message (and its reply), and for streamed units. ``keep`` receives
        each step's rows (None: rows are dropped, so memory stays bounded). Any
        exception, also one raised by ``stmts`` itself, rolls back and propagates."""
        tx: Any = None  # opened at the first statement: an empty producer costs nothing
        committed = False
        try:
            for i, (sql, args) in enumerate(stmts):
                if tx is None:
                    tx = self._call(client.transaction, index=None, write=True)
                rows = self._call(tx.execute, sql, args, index=i, write=True)
                if keep is not None:
                    keep(_rows(rows))
            if tx is not None:
                what = "COMMIT failed, nothing of this unit was applied"
                self._call(tx.commit, index=None, write=True, what=what)
            committed = True
        finally:
            if tx is not None:
                if not committed:
                    _quietly(tx.rollback)
                _quietly(tx.close)

    def _locate(
        self,
        client: libsql_client.ClientSync,
        stmts: list[tuple[str, list[Any]]],
        exc: DatabaseError,
    ) -> DatabaseError:
        """Replay the steps in a transaction that is always rolled back, to find the
        failing one (only after a failure, so the normal path stays one message)."""
        tx = self._call(client.transaction, index=None, write=True)
        try:
            for i, (sql, args) in enumerate(stmts):
                try:
                    tx.execute(sql, args)
                except libsql_client.LibsqlError as replayed:
                    if replayed.code in _CLOSED_CODES or replayed.code.startswith("AUTH_"):
                        return exc
                    return StatementError(i, exc.message, exc.code)
            # Every statement ran: the batch failed at COMMIT (e.g. a deferred foreign key).
            return DatabaseError(
                f"COMMIT failed, nothing of this unit was applied: {exc.message}", exc.code
            )
        except Exception as other:  # the connection went away while diagnosing
            log.debug("could not locate the failing step: %s", type(other).__name__)
        finally:
            _quietly(tx.rollback)
            _quietly(tx.close)
        return exc

    def run_each(self, steps: Sequence[Step]) -> list[list[Row]]:
        """Each step on its own stream, committing on its own; stop at the first failure."""
        client = self._open()
        results = []
        for i, step in enumerate(steps):
            args = _args(step.params, i)
            results.append(_rows(self._call(client.execute, step.sql, args, index=i, write=True)))
        return results

    def close(self) -> None:
        """Stop libsql-client's event-loop thread; safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            _quietly(client.close)

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
            return ConnectionFailed(
                f"cannot reach {self.display_url}: {_describe(exc)}{self._localhost_hint(exc)}"
            )
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

    def _localhost_hint(self, exc: aiohttp.ClientConnectorError) -> str:
        """A ``*.localhost`` name the resolver does not know: say what works instead.

        libsql-client builds its aiohttp session itself and takes no connector or
        resolver, so unlike the HTTP driver this one cannot connect such a name to
        loopback without its private API (docs/fleet.md)."""
        host = urllib.parse.urlsplit(self._url).hostname or ""
        if connect_host(host) == host or not isinstance(exc.os_error, socket.gaierror):
            return ""
        http_url = redact_url("http" + self._url[2:])  # ws:// -> http://, wss:// -> https://
        return (
            f"; this machine's resolver does not know *.localhost names and the WebSocket"
            f" client cannot be sent to loopback: use {http_url}, the same server and"
            " namespace over HTTP"
        )

    def _diagnose(self, detail: str, write: bool) -> MigrateError:
        """The socket closed under us: an auth refusal or a network problem?"""
        http_url = "http" + self._url[2:]  # ws:// -> http://, wss:// -> https://
        probe = HranaHttpDriver(
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


def _refuse_foreign_keys_off(requested: bool, display: str) -> None:
    """libsql-client runs a batch or transaction on a stream of its own choosing, so a
    PRAGMA cannot precede its BEGIN on the same connection (LIBSQL_NOTES.md section 6)."""
    if requested:
        raise UsageError(
            f"{display}: foreign_keys:off cannot run over ws://; use the http:// URL of the"
            " same server (https:// for wss://), which can turn foreign keys off around"
            " the migration's transaction"
        )


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


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:  # cleanup after a failure must not hide the real error
        log.debug("ignored during cleanup: %s", type(exc).__name__)
