"""What we take from libsql-client below its public API: a client of our own
(``open_client``) whose WebSocket offers the ``hrana3`` subprotocol and whose aiohttp
session knows that ``*.localhost`` is loopback, and a raw Hrana stream on it for our
own batches. Both changes stay inside the clients we open: libsql-client's classes and
aiohttp's defaults are never patched (our Python API and pytest plugin run in users'
processes, which may use either library themselves).

libsql-client is archived at 0.3.1, so these internals will not move under us; the
driver contract tests run every path through here.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
import libsql_client
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from libsql_client.config import _expand_config
from libsql_client.hrana.client import HranaClient, _config_to_url
from libsql_client.hrana.conn import HranaConn
from libsql_client.sync import _AsyncExecutor

from migrate_tasks.config.urls import connect_host
from migrate_tasks.drivers.hrana import ABORT_TIMEOUT, FOREIGN_KEYS_ON

log = logging.getLogger("migrate_tasks")


class RawStream:
    """One Hrana stream on libsql-client's WebSocket, for batches of our own.

    Not public API (``ClientSync._executor``, ``HranaClient._open_stream``, and the
    ``HranaStream`` it returns), but libsql-client is archived at 0.3.1, and the
    driver contract tests run every path through here. Each call runs on the client's
    event-loop thread and waits for its answer.
    """

    def __init__(self, client: libsql_client.ClientSync) -> None:
        self.client = client
        inner: Any = client  # its event-loop executor and its async HranaClient
        self._executor = inner._executor
        self._stream = self._executor.submit_func(inner._client._open_stream)
        self._conn = inner._client._conn  # the connection the stream was opened on
        #: The last batch ended the transaction (COMMIT or its own ROLLBACK ran).
        self.done = False
        #: The transaction runs with foreign keys off: ``abort`` turns them on again.
        self.foreign_keys_off = False
        #: The socket speaks ``hrana3``: batches may require ``not is_autocommit``.
        self.guard = False

    def protocol(self) -> str:
        """The WebSocket subprotocol the server chose (``hrana3``, ``hrana2``), once
        connected; a failed connection raises here."""
        self._executor.submit_coro(self._conn.wait_connected())
        socket = self._conn._socket
        return str(socket.protocol) if socket is not None else ""

    def batch(self, steps: list[dict[str, Any]], close: bool) -> dict[str, Any]:
        """Send one batch and wait for its result; ``close`` also closes the stream,
        in the same round trip."""

        async def run() -> dict[str, Any]:
            answer = self._stream.batch({"steps": steps})
            if close:
                self._stream.close()
            return await answer

        return self._executor.submit_coro(run())

    def batches(self, batches: list[list[dict[str, Any]]]) -> list[Any]:
        """Send every batch at once; each one's result, or the LibsqlError it raised."""

        async def run() -> list[Any]:
            answers = [self._stream.batch({"steps": steps}) for steps in batches]
            return await asyncio.gather(*answers, return_exceptions=True)

        return self._executor.submit_coro(run())

    def abort(self) -> None:
        """ROLLBACK (unless the last batch ended the transaction), foreign keys on again
        if they were off, and close, waiting briefly, so the write lock is free when the
        failure reaches the caller."""
        if self.done or self._stream.closed:
            return
        self.done = True

        sql = ["ROLLBACK"]
        if self.foreign_keys_off:  # the stream closes anyway; as over HTTP all the same
            sql.append(FOREIGN_KEYS_ON)

        async def run() -> None:
            answers = [self._stream.execute({"sql": q, "want_rows": False}) for q in sql]
            self._stream.close()
            await asyncio.wait_for(asyncio.gather(*answers, return_exceptions=True), ABORT_TIMEOUT)

        quietly(lambda: self._executor.submit_coro(run()))

    def close(self) -> None:
        if not self._stream.closed:
            quietly(lambda: self._executor.submit_func(self._stream.close))


def quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:  # cleanup after a failure must not hide the real error
        log.debug("ignored during cleanup: %s", type(exc).__name__)


def open_client(url: str, auth_token: str | None) -> libsql_client.ClientSync:
    """A libsql-client WebSocket client of our own: it offers ``hrana3`` and resolves
    ``*.localhost`` names to loopback, on its own connections only.

    What ``libsql_client.create_client_sync`` does for a ``ws://``/``wss://`` URL (its
    URL checks raise the same ``LibsqlError``), but the client is ``_Client``: nothing
    of libsql-client or aiohttp is changed for the rest of the process, which may be a
    user's own (the Python API, the pytest plugin) using either library itself.
    """
    executor = _AsyncExecutor()
    try:
        client = executor.submit_func(lambda: _create(url, auth_token))
    except BaseException:
        executor.close()
        raise
    return libsql_client.ClientSync(executor, client)


def _create(url: str, auth_token: str | None) -> _Client:
    config = _expand_config(url, auth_token=auth_token, tls=None)
    if config.scheme not in ("ws", "wss"):
        raise libsql_client.LibsqlError(
            f"Unsupported URL scheme {config.scheme!r}", "URL_SCHEME_NOT_SUPPORTED"
        )
    return _Client(_config_to_url(config), config.auth_token)


class _Conn(HranaConn):
    """libsql-client's WebSocket connection, offering ``hrana3`` before ``hrana2``.

    libsql-client 0.3.1 offers only ``hrana2``, and sqld refuses Hrana 3 batch
    conditions (``is_autocommit``) on a ``hrana2`` socket by closing it. Everything
    libsql-client sends is the same in both versions (Hrana 3 only adds requests and
    result fields it ignores), so the server may pick either; ``RawStream.protocol``
    says which it did. Measured on sqld 0.24.32: benchmarks/README.md (ws section).
    """

    protocols: tuple[str, ...] = ("hrana3", "hrana2")

    async def _do_connect(self, session: aiohttp.ClientSession, url: str) -> Any:
        return await session.ws_connect(
            url, protocols=list(self.protocols), autoclose=False, autoping=True
        )


class _Client(HranaClient):
    """libsql-client's ``HranaClient`` with its own aiohttp session (``LocalhostNames``
    as its resolver) and ``_Conn`` connections. Its ``__init__`` repeats the base one
    (libsql-client is archived at 0.3.1), which builds a session that takes no resolver."""

    def __init__(self, url: str, auth_token: str | None) -> None:
        self._resolver = LocalhostNames()
        connector = aiohttp.TCPConnector(resolver=self._resolver)
        self._session = aiohttp.ClientSession(connector=connector)
        self._close_tasks = set()
        self._url = url
        self._auth_token = auth_token
        self._conn = self._open_conn()
        self._closed = False

    def _open_conn(self) -> HranaConn:
        return _Conn(self._session, self._url, self._auth_token)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self._resolver.close()  # a resolver passed in is the caller's to close


class LocalhostNames(AbstractResolver):
    """aiohttp's default resolver, except that ``*.localhost`` names are loopback, as
    RFC 6761 says they are.

    sqld addresses a namespace as ``NS.localhost``, and many resolvers (glibc with
    ``files dns``) do not know such names: this asks for ``localhost`` instead and keeps
    the name itself as the result's host name (the Host header and the TLS server name
    stay the URL's). Every other name resolves exactly as aiohttp's own resolver does.
    """

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        target = connect_host(host)
        found = await self._inner.resolve(target, port, family)
        if target != host:
            found = [ResolveResult(**{**entry, "hostname": host}) for entry in found]
        return found

    async def close(self) -> None:
        await self._inner.close()
