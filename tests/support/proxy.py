"""A fault-injection TCP proxy on 127.0.0.1, for tests against a real sqld.

It sits between a client and sqld and understands just enough HTTP/1.1 to see
request boundaries on a keep-alive connection (Content-Length and chunked
bodies; after a ``101 Switching Protocols`` it pumps raw bytes, so WebSockets
pass too). That lets a test say *which* request to lose, and tell the two
failures a client cannot tell apart: the request never arrived, or it arrived
(and committed) but the answer was lost.

Modes, switchable while connections are open::

    proxy.pass_through()                      # forward everything
    proxy.delay(2.0)                          # hold each response 2 s
    proxy.drop_after(requests=3)              # 4th request: cut before forwarding
    proxy.drop_after(requests=3, forward=True)  # 4th: forward, lose the answer
    proxy.drop_after(nbytes=1000)             # cut after 1000 bytes from the client
    proxy.hold_after(requests=3)              # 4th request: hold it until release()
    proxy.hold_after(requests=3, forward=True)  # 4th: forward, hold the answer
    proxy.refuse()                            # close new connections at once

A drop fires once (then the proxy passes again) and resets the client connection
(RST, not FIN). So does a hold, once released: ``wait_held()`` returns when the
request is held, so a test can act at exactly that point of a run (kill the server,
start a competitor) whatever the machine's load. Counters: ``connections``,
``requests`` (``POST`` request lines, i.e. Hrana pipeline calls), ``http_requests``
(all), ``drops``, and ``ws_requests``: the Hrana requests clients sent over
WebSockets, by type (``open_stream``, ``execute``, ``batch``, ...).

Bounded: every socket has a timeout, heads are limited to 64 KiB, bodies are
streamed in 64 KiB pieces (never held whole), connections are capped, and
``close()`` (or leaving the ``with`` block) stops every thread within seconds.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from io import BufferedReader

_PIECE = 64 * 1024
_MAX_HEAD = 64 * 1024


class ProxyCut(Exception):
    """Internal: the mode says to cut the client connection now."""


@dataclass(frozen=True)
class _Mode:
    name: str = "pass"
    delay: float = 0.0
    requests: int | None = None  # drop the request after this many have passed
    forward: bool = False  # ... after forwarding it (the answer is lost)
    nbytes: int | None = None  # cut once this many client bytes were forwarded


class FaultProxy:
    """TCP proxy from a free 127.0.0.1 port to ``upstream_port``; see the module doc."""

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        io_timeout: float = 30.0,
        max_connections: int = 64,
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._io_timeout = io_timeout
        self._max_connections = max_connections
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._mode = _Mode()
        self._passed = 0  # requests (or bytes) counted towards the current drop
        self._live: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.connections = 0
        self.requests = 0
        self.http_requests = 0
        self.drops = 0
        self.ws_requests: Counter[str] = Counter()
        self._held = threading.Event()
        self._released = threading.Event()

    # -- public ---------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pass_through(self) -> None:
        """Forward everything unchanged."""
        self._set(_Mode())

    def delay(self, seconds: float) -> None:
        """Hold every response (and every upgraded chunk to the client) ``seconds``."""
        self._set(_Mode("delay", delay=seconds))

    def drop_after(
        self, *, requests: int | None = None, forward: bool = False, nbytes: int | None = None
    ) -> None:
        """Let ``requests`` requests through, then reset the connection at the next
        one: before forwarding it (it never arrived) or, with ``forward=True``, after
        the server answered it (it arrived, the answer is lost). ``nbytes`` instead
        cuts once that many bytes from clients were forwarded (mid-request)."""
        if (requests is None) == (nbytes is None):
            raise ValueError("give exactly one of requests= or nbytes=")
        self._set(_Mode("drop", requests=requests, forward=forward, nbytes=nbytes))

    def hold_after(self, *, requests: int, forward: bool = False) -> None:
        """Let ``requests`` requests through, then hold the next one until ``release()``:
        before forwarding it (it never arrives) or, with ``forward=True``, after the
        server answered it (it arrived; the answer is held). On release its connection
        is reset, as by ``drop_after``."""
        self._held.clear()
        self._released.clear()
        self._set(_Mode("hold", requests=requests, forward=forward))

    def wait_held(self, timeout: float = 120.0) -> None:
        """Return once a request is being held (see ``hold_after``)."""
        if not self._held.wait(timeout):
            raise AssertionError(f"no request was held within {timeout} s")

    def release(self) -> None:
        """End a hold: the held request's connection is reset."""
        self._released.set()

    def refuse(self) -> None:
        """Reset every new connection at once (open ones are left alone)."""
        self._set(_Mode("refuse"))

    def close_clients(self) -> None:
        """Reset every open connection now (a network blip)."""
        with self._lock:
            live = list(self._live)
        for sock in live:
            _reset(sock, wake=True)

    def reset_counters(self) -> None:
        with self._lock:
            self.connections = self.requests = self.http_requests = self.drops = 0
            self.ws_requests.clear()

    def close(self) -> None:
        """Stop accepting, reset every connection and join every thread (bounded)."""
        self._stop.set()
        self._released.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.close_clients()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    # -- internals -------------------------------------------------------------------

    def _set(self, mode: _Mode) -> None:
        with self._lock:
            self._mode = mode
            self._passed = 0

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
                refuse = self._mode.name == "refuse" or len(self._live) >= self._max_connections
                if not refuse:
                    self._live.add(client)
            if refuse:
                _reset(client)
                continue
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._threads.add(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(self._io_timeout)
            upstream = socket.create_connection(self._upstream, timeout=self._io_timeout)
            for sock in (client, upstream):  # no Nagle: a relay must not add 40 ms stalls
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._live.add(upstream)
            self._relay(client, upstream)
        except ProxyCut:
            _reset(client)
        except (OSError, ValueError):
            pass  # either side went away or sent garbage: end this connection
        finally:
            with self._lock:
                self._live.discard(client)
                if upstream is not None:
                    self._live.discard(upstream)
                self._threads.discard(threading.current_thread())
            _close(client)
            if upstream is not None:
                _close(upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        """One HTTP request, then its response, until either side closes."""
        # The readers hold the sockets open: close them first, so a reset is a reset.
        with client.makefile("rb") as from_client, upstream.makefile("rb") as from_upstream:
            self._exchange(client, upstream, from_client, from_upstream)

    def _exchange(
        self,
        client: socket.socket,
        upstream: socket.socket,
        from_client: BufferedReader,
        from_upstream: BufferedReader,
    ) -> None:
        while not self._stop.is_set():
            head = read_head(from_client)
            if not head:
                return
            method = head.split(b" ", 1)[0]
            drop, hold = self._count_request(method)
            if drop == "before":
                self._hold_if(hold)
                raise ProxyCut
            self._send_up(upstream, head)
            copy_body(from_client, head, lambda data: self._send_up(upstream, data), False, b"")
            response = read_head(from_upstream)
            if not response:
                return
            if drop == "after":
                copy_body(from_upstream, response, None, True, method)  # let it finish
                self._hold_if(hold)
                raise ProxyCut
            self._wait_delay()
            client.sendall(response)
            until_close = copy_body(from_upstream, response, client.sendall, True, method)
            if response.startswith(b"HTTP/1.1 101") or response.startswith(b"HTTP/1.0 101"):
                self._pump_raw(client, upstream, from_client, from_upstream)
                return
            if until_close:
                return

    def _count_request(self, method: bytes) -> tuple[str | None, bool]:
        """Count one request; say whether the current mode drops it, and how (before
        or after forwarding it), and whether it holds it first."""
        with self._lock:
            self.http_requests += 1
            if method == b"POST":
                self.requests += 1
            mode = self._mode
            if mode.name not in ("drop", "hold") or mode.requests is None:
                return None, False
            if self._passed < mode.requests:
                self._passed += 1
                return None, False
            self.drops += 1
            self._mode = _Mode()  # a drop or a hold fires once
            return ("after" if mode.forward else "before"), mode.name == "hold"

    def _hold_if(self, hold: bool) -> None:
        """Hold here (the connection's thread) until released or closed."""
        if hold:
            self._held.set()
            self._released.wait()

    def _send_up(self, upstream: socket.socket, data: bytes) -> None:
        """Forward client bytes, cutting the connection if a byte budget runs out."""
        with self._lock:
            mode = self._mode
            if mode.name == "drop" and mode.nbytes is not None:
                room = mode.nbytes - self._passed
                if len(data) >= room:
                    self.drops += 1
                    self._mode = _Mode()
                    self._passed = 0
                    cut = data[: max(room, 0)]
                else:
                    self._passed += len(data)
                    cut = None
            else:
                cut = None
        if cut is not None:
            upstream.sendall(cut)
            raise ProxyCut
        upstream.sendall(data)

    def _wait_delay(self) -> None:
        with self._lock:
            seconds = self._mode.delay
        if seconds and self._stop.wait(seconds):
            raise OSError("proxy stopping")

    def _pump_raw(
        self,
        client: socket.socket,
        upstream: socket.socket,
        from_client: BufferedReader,
        from_upstream: BufferedReader,
    ) -> None:
        """After an upgrade (WebSocket): bytes both ways, no more parsing."""
        # A WebSocket may be idle for long; only the stop flag or a close ends it.
        client.settimeout(None)
        upstream.settimeout(None)

        frames = ClientFrames(self._count_ws_message)

        def up() -> None:
            try:
                while data := from_client.read1(_PIECE):
                    frames.feed(data)
                    self._send_up(upstream, data)
            except ProxyCut:
                _reset(client)
            except (OSError, ValueError):
                pass
            finally:
                _reset(upstream, wake=True)

        thread = threading.Thread(target=up, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        try:
            while data := from_upstream.read1(_PIECE):
                self._wait_delay()
                client.sendall(data)
        finally:
            _reset(client, wake=True)
            thread.join(timeout=5)
            with self._lock:
                self._threads.discard(thread)

    def _count_ws_message(self, message: bytes) -> None:
        try:
            decoded = json.loads(message)
            kind = decoded["request"]["type"] if decoded["type"] == "request" else None
        except (ValueError, KeyError, TypeError):
            kind = None
        if isinstance(kind, str):
            with self._lock:
                self.ws_requests[kind] += 1


class ClientFrames:
    """The text messages of a client's WebSocket, reassembled from its frames as the
    bytes pass (client frames are masked; no extensions, as aiohttp sends them)."""

    def __init__(self, on_message: Callable[[bytes], object]) -> None:
        self._buffer = bytearray()
        self._parts: list[bytes] = []
        self._on_message = on_message

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while (frame := _take_frame(self._buffer)) is not None:
            opcode, final, payload = frame
            if opcode in (0, 1):  # continuation, text (control frames are not messages)
                self._parts.append(payload)
                if final:
                    self._on_message(b"".join(self._parts))
                    self._parts = []


def _take_frame(buffer: bytearray) -> tuple[int, bool, bytes] | None:
    """Remove one whole frame from ``buffer``: (opcode, FIN, unmasked payload)."""
    if len(buffer) < 2:
        return None
    final, opcode = bool(buffer[0] & 0x80), buffer[0] & 0x0F
    size, pos = buffer[1] & 0x7F, 2
    if size >= 126:
        pos += 2 if size == 126 else 8
        if len(buffer) < pos:
            return None
        size = int.from_bytes(buffer[2:pos], "big")
    key = b""
    if buffer[1] & 0x80:
        key = bytes(buffer[pos : pos + 4])
        pos += 4
    if len(buffer) < pos + size:
        return None
    payload = bytes(buffer[pos : pos + size])
    del buffer[: pos + size]
    if key and payload:
        mask = (key * (size // 4 + 1))[:size]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(
            size, "big"
        )
    return opcode, final, payload


def read_head(reader: BufferedReader) -> bytes:
    """The start line and headers up to the blank line (b"" at a clean EOF)."""
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
            continue  # tolerate stray blank lines between messages
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def copy_body(
    reader: BufferedReader,
    head: bytes,
    send: Callable[[bytes], object] | None,
    response: bool,
    method: bytes,
) -> bool:
    """Copy the body that follows ``head`` to ``send`` (or discard it) in bounded
    pieces. Returns True when the body runs until the connection closes."""
    if response:
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b""
        if method == b"HEAD" or status.startswith(b"1") or status in (b"204", b"304"):
            return False
    emit = send or (lambda data: None)
    encoding = (_header(head, b"transfer-encoding") or b"").lower()
    if b"chunked" in encoding:
        while True:
            size_line = reader.readline(_MAX_HEAD)
            if not size_line:
                raise ValueError("connection closed inside a chunked body")
            emit(size_line)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := reader.readline(_MAX_HEAD)) not in (b"\r\n", b"\n", b""):
                    emit(trailer)
                emit(b"\r\n")
                return False
            _copy_exact(reader, size + 2, emit)
    length = _header(head, b"content-length")
    if length is not None:
        _copy_exact(reader, int(length), emit)
        return False
    if not response:
        return False
    while data := reader.read1(_PIECE):
        emit(data)
    return True


def _copy_exact(reader: BufferedReader, count: int, emit: Callable[[bytes], object]) -> None:
    while count > 0:
        data = reader.read(min(count, _PIECE))
        if not data:
            raise ValueError("connection closed inside a body")
        emit(data)
        count -= len(data)


def _reset(sock: socket.socket, *, wake: bool = False) -> None:
    """Close with RST (linger 0), as a crashed peer or a middlebox would. ``wake``:
    another thread may be blocked reading it, and only a shutdown wakes it (at the
    cost of a FIN before the RST)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if wake:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
