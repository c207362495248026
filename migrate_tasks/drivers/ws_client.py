"""What we take from libsql-client below its public API: a raw Hrana stream for our own
batches, its WebSocket offering the ``hrana3`` subprotocol, and aiohttp's resolver
taught that ``*.localhost`` is loopback.

libsql-client is archived at 0.3.1, so these internals will not move under us; the
driver contract tests run every path through here.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import libsql_client

from migrate_tasks.config.urls import connect_host
from migrate_tasks.drivers.hrana import ABORT_TIMEOUT

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
        """ROLLBACK (unless the last batch ended the transaction) and close, waiting
        briefly, so the write lock is free when the failure reaches the caller."""
        if self.done or self._stream.closed:
            return
        self.done = True

        async def run() -> None:
            answer = self._stream.execute({"sql": "ROLLBACK", "want_rows": False})
            self._stream.close()
            await asyncio.wait_for(answer, ABORT_TIMEOUT)

        quietly(lambda: self._executor.submit_coro(run()))

    def close(self) -> None:
        if not self._stream.closed:
            quietly(lambda: self._executor.submit_func(self._stream.close))


def quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:  # cleanup after a failure must not hide the real error
        log.debug("ignored during cleanup: %s", type(exc).__name__)


def offer_hrana3() -> None:
    """Make libsql-client's WebSocket offer ``hrana3`` before ``hrana2``, once.

    libsql-client 0.3.1 hard-codes ``hrana2``, and sqld refuses Hrana 3 batch
    conditions (``is_autocommit``) on a ``hrana2`` socket by closing it. Everything
    libsql-client sends is the same in both versions (Hrana 3 only adds requests and
    result fields it ignores), so the server may pick either; ``RawStream.protocol``
    says which it did. Measured on sqld 0.24.32: benchmarks/README.md (ws section).
    """
    from libsql_client.hrana import conn

    if getattr(conn.HranaConn, "offers_hrana3", False):
        return

    async def do_connect(self: Any, session: Any, url: str) -> Any:
        return await session.ws_connect(
            url, protocols=["hrana3", "hrana2"], autoclose=False, autoping=True
        )

    conn.HranaConn._do_connect = do_connect  # type: ignore[method-assign]
    conn.HranaConn.offers_hrana3 = True  # type: ignore[attr-defined]


def resolve_localhost_names() -> None:
    """Let aiohttp connect ``*.localhost`` names to loopback, as RFC 6761 says they are.

    sqld addresses a namespace as ``NS.localhost``, and many resolvers (glibc with
    ``files dns``) do not know such names. libsql-client builds its aiohttp session
    itself and takes no resolver, so aiohttp's default resolver class is replaced, once,
    by one that asks for ``localhost`` instead of ``*.localhost`` and keeps the name
    itself as the result's host name (the Host header and the TLS server name stay the
    URL's). Every other name resolves exactly as before; aiohttp serves only
    libsql-client in this process.
    """
    from aiohttp import connector

    base = connector.DefaultResolver
    if getattr(base, "localhost_names", False):
        return

    class LocalhostNames(base):  # type: ignore[misc, valid-type]
        localhost_names = True

        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[Any]:
            target = connect_host(host)
            found = await super().resolve(target, port, family)
            if target != host:
                found = [{**entry, "hostname": host} for entry in found]
            return found

    connector.DefaultResolver = LocalhostNames
