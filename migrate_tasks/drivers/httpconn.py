"""``http.client`` connections that reach ``*.localhost`` names without asking a resolver.

sqld picks a namespace from the first label of the ``Host`` header, so
``http://tenant1.localhost:8080`` is how a local sqld's namespace is addressed. RFC 6761
makes every ``*.localhost`` name loopback, but many resolvers (glibc with ``files dns``,
for one) do not know that and fail with "Name or service not known". These connections
open their socket to ``localhost`` for such a name and keep the name itself everywhere
else: in the ``Host`` header (http.client builds it from the host it was given) and as
the TLS server name. Other hosts are connected to as given. Used by the Hrana HTTP driver
and the sqld admin API client.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl

from migrate_tasks.config.urls import connect_host


def _tcp(conn: http.client.HTTPConnection) -> socket.socket:
    """What ``HTTPConnection.connect`` opens, to ``connect_host(host)`` (no proxy tunnel:
    we never set one)."""
    sock = socket.create_connection(
        (connect_host(conn.host), conn.port), conn.timeout, conn.source_address
    )
    with contextlib.suppress(OSError):  # a platform without TCP_NODELAY
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = _tcp(self)


class _TlsConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int | None, *, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.tls_context = context

    def connect(self) -> None:
        """TLS verified against the name given, over a socket to ``connect_host(host)``."""
        self.sock = self.tls_context.wrap_socket(_tcp(self), server_hostname=self.host)


def open_connection(
    host: str,
    port: int | None,
    *,
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> http.client.HTTPConnection:
    """A (not yet connected) connection to ``host:port``, over TLS with context ``tls``."""
    if tls is not None:
        return _TlsConnection(host, port, timeout=timeout, context=tls)
    return _Connection(host, port, timeout=timeout)
