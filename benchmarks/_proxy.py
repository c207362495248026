"""A counting reverse proxy on 127.0.0.1 for the benchmarks: client -> proxy -> sqld.

It reads just enough HTTP/1.1 to see where each request and response ends on a keep-alive
connection (Content-Length and chunked bodies; after ``101 Switching Protocols`` it pumps
raw bytes), so it can count requests exactly and hold each response back by a fixed delay.
That delay is the "remote region" of workload W3: ``delay`` seconds are added once per HTTP
request/response round trip. After a WebSocket upgrade, whatever the server sends reaches
the client ``delay`` seconds after it was sent (a one-way latency: messages in flight
together arrive together). Opening a TCP connection is not delayed (connections are
counted, so their cost can be judged separately).

Bodies are streamed in 64 KiB pieces, so a 200 MB request costs no memory here.
Its HTTP framing is tests/support/proxy.py's; this proxy adds counting and latency.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import sys
import threading
import time
from io import BufferedReader
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# One HTTP/1.1 framing reader for the test proxy and this one.
from tests.support.proxy import ClientFrames, copy_body, read_head

_PIECE = 64 * 1024


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
        self.ws_requests = 0  # Hrana requests sent over WebSockets (after an upgrade)
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
            self.requests = self.posts = self.connections = self.ws_requests = 0
            self.lines.clear()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "http_requests": self.requests,
                "posts": self.posts,
                "connections": self.connections,
                "ws_requests": self.ws_requests,
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
            head = read_head(c_in)
            if not head:
                return
            method = head.split(b" ", 1)[0]
            with self._lock:
                self.requests += 1
                self.posts += method == b"POST"
                self.lines.append(head.split(b"\r\n", 1)[0])
            upstream.sendall(head)
            copy_body(c_in, head, upstream.sendall, response=False, method=method)
            response = read_head(u_in)
            if not response:
                return
            if self.delay:
                time.sleep(self.delay)
            client.sendall(response)
            until_close = copy_body(u_in, response, client.sendall, response=True, method=method)
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
        """After an upgrade: raw bytes both ways; what the server sends reaches the client
        ``delay`` s later (``_delay_line``), so a request/response costs ``delay`` as over
        HTTP, and messages in flight together are not charged one after the other."""

        frames = ClientFrames(self._count_ws_message)

        def up() -> None:
            with contextlib.suppress(OSError, ValueError):
                while data := c_in.read1(_PIECE):
                    frames.feed(data)
                    upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

        thread = threading.Thread(target=up, daemon=True)
        thread.start()
        if self.delay:
            self._delay_line(u_in, client)
        else:
            while data := u_in.read1(_PIECE):
                client.sendall(data)
        # The server closed: so does the client's side. This also wakes ``up`` from its
        # read; without it, closing ``c_in`` would wait forever for ``up``'s lock, and a
        # client whose socket the server dropped (sqld on a protocol error) would hang.
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        thread.join(timeout=5)

    def _count_ws_message(self, message: bytes) -> None:
        """Count Hrana requests (not ``hello``); by their first bytes, as parsing a big
        batch on the proxy's thread would cost time inside the measurement."""
        head = message[:64].replace(b" ", b"")
        if b'"type":"request"' in head:
            with self._lock:
                self.ws_requests += 1

    def _delay_line(self, u_in: BufferedReader, client: socket.socket) -> None:
        """Forward every piece the server sends ``delay`` s after it arrived, in order: a
        one-way latency (a reply to pipelined requests is not delayed once per reply)."""
        pieces: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

        def read() -> None:
            with contextlib.suppress(OSError, ValueError):
                while data := u_in.read1(_PIECE):
                    pieces.put((time.monotonic() + self.delay, data))
            pieces.put((0.0, b""))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while True:
            due, data = pieces.get()
            if not data:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            client.sendall(data)
        reader.join(timeout=5)
