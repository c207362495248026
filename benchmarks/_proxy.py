"""A counting reverse proxy on 127.0.0.1 for the benchmarks: client -> proxy -> sqld.

It reads just enough HTTP/1.1 to see where each request and response ends on a keep-alive
connection (Content-Length and chunked bodies; after ``101 Switching Protocols`` it pumps
raw bytes), so it can count requests exactly and hold each response back by a fixed delay.
That delay is the "remote region" of workload W3: ``delay`` seconds are added once per HTTP
request/response round trip. Opening a TCP connection is not delayed (connections are
counted, so their cost can be judged separately).

Bodies are streamed in 64 KiB pieces, so a 200 MB request costs no memory here.
Adapted from tests/support/proxy.py without the fault modes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from io import BufferedReader

_PIECE = 64 * 1024
_MAX_HEAD = 64 * 1024


class CountingProxy:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``, counting and delaying."""

    def __init__(self, upstream_port: int, delay: float = 0.0) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self.requests = 0  # every HTTP request
        self.posts = 0  # POST requests (Hrana pipeline/batch calls)
        self.connections = 0
        self.lines: list[bytes] = []  # request lines, for debugging
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CountingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        with self._lock:
            self.requests = self.posts = self.connections = 0
            self.lines.clear()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "http_requests": self.requests,
                "posts": self.posts,
                "connections": self.connections,
            }

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            upstream = socket.create_connection(self.upstream, timeout=600)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(600)
            with self._lock:
                self._sockets.update((client, upstream))
            with client.makefile("rb") as c_in, upstream.makefile("rb") as u_in:
                self._relay(client, upstream, c_in, u_in)
        except (OSError, ValueError):
            pass  # one side went away: end this connection
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with self._lock:
                        self._sockets.discard(sock)
                    with contextlib.suppress(OSError):
                        sock.close()

    def _relay(
        self,
        client: socket.socket,
        upstream: socket.socket,
        c_in: BufferedReader,
        u_in: BufferedReader,
    ) -> None:
        while not self._stop.is_set():
            head = _read_head(c_in)
            if not head:
                return
            method = head.split(b" ", 1)[0]
            with self._lock:
                self.requests += 1
                self.posts += method == b"POST"
                self.lines.append(head.split(b"\r\n", 1)[0])
            upstream.sendall(head)
            _copy_body(c_in, head, upstream.sendall, response=False, method=method)
            response = _read_head(u_in)
            if not response:
                return
            if self.delay:
                time.sleep(self.delay)
            client.sendall(response)
            until_close = _copy_body(u_in, response, client.sendall, response=True, method=method)
            if response.split(b" ", 2)[1:2] == [b"101"]:
                self._pump(client, upstream, c_in, u_in)
                return
            if until_close:
                return

    def _pump(
        self,
        client: socket.socket,
        upstream: socket.socket,
        c_in: BufferedReader,
        u_in: BufferedReader,
    ) -> None:
        """After an upgrade: raw bytes both ways (each server message delayed once)."""

        def up() -> None:
            with contextlib.suppress(OSError, ValueError):
                while data := c_in.read1(_PIECE):
                    upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

        thread = threading.Thread(target=up, daemon=True)
        thread.start()
        while data := u_in.read1(_PIECE):
            if self.delay:
                time.sleep(self.delay)
            client.sendall(data)
        thread.join(timeout=5)


def _read_head(reader: BufferedReader) -> bytes:
    lines: list[bytes] = []
    size = 0
    while True:
        line = reader.readline(_MAX_HEAD)
        if not line:
            if lines:
                raise ValueError("connection closed inside an HTTP head")
            return b""
        size += len(line)
        if size > _MAX_HEAD:
            raise ValueError("HTTP head too large")
        if not lines and line in (b"\r\n", b"\n"):
            continue
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def _copy_body(reader: BufferedReader, head: bytes, send, *, response: bool, method: bytes) -> bool:
    """Copy the body after ``head``; True when it runs until the connection closes."""
    if response:
        parts = head.split(b" ", 2)
        status = parts[1] if len(parts) > 1 else b""
        if method == b"HEAD" or status.startswith(b"1") or status in (b"204", b"304"):
            return False
    if b"chunked" in (_header(head, b"transfer-encoding") or b"").lower():
        while True:
            size_line = reader.readline(_MAX_HEAD)
            if not size_line:
                raise ValueError("connection closed inside a chunked body")
            send(size_line)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := reader.readline(_MAX_HEAD)) not in (b"\r\n", b"\n", b""):
                    send(trailer)
                send(b"\r\n")
                return False
            _copy_exact(reader, size + 2, send)
    length = _header(head, b"content-length")
    if length is not None:
        _copy_exact(reader, int(length), send)
        return False
    if not response:
        return False
    while data := reader.read1(_PIECE):
        send(data)
    return True


def _copy_exact(reader: BufferedReader, count: int, send) -> None:
    while count > 0:
        data = reader.read(min(count, _PIECE))
        if not data:
            raise ValueError("connection closed inside a body")
        send(data)
        count -= len(data)
