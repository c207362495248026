"""The HTTP side of sqld's Hrana: ``POST /v3/pipeline`` on one keep-alive connection.

``PipelineClient`` sends a pipeline body (requests on a stream, named by a baton or a
fresh one) and returns the decoded answer; it owns the connection, TLS, the Host header
of a namespace, and the translation of every transport and HTTP failure into our
errors, in words that never hold the token. ``drivers.http`` builds the requests.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import ssl
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.config.urls import redact_url
from migrate_tasks.drivers.base import Step
from migrate_tasks.drivers.hrana import (
    INTERRUPTED_CODES,
    auth_message,
    error_text,
    interrupted_error,
)
from migrate_tasks.drivers.httpconn import open_connection
from migrate_tasks.errors import (
    AuthFailed,
    ConnectionFailed,
    DatabaseError,
    StatementError,
    UsageError,
)

_MAX_SERVER_TEXT = 500
_MID_TRANSACTION = (
    "; nothing of this unit was committed (the transaction was still open, and sqld rolls it back)"
)
_MAYBE_APPLIED = (
    "; the request may or may not have been applied, so check the migration history before retrying"
)


class PipelineClient:
    """One keep-alive HTTP(S) connection to sqld's ``/v3/pipeline``."""

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
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self._ca_file = ca_file
        # fleet: sqld routes namespaces by the Host header's first label; sending
        # ``<ns>.<host>`` ourselves reaches a namespace on 127.0.0.1 without DNS.
        self._host_header = host_header
        self.display_url = display_url or redact_url(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{self.display_url}: expected an http:// or https:// base URL")
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/v3/pipeline"
        self.timeout = timeout
        self.token = auth_token or None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            self._headers["Authorization"] = f"Bearer {self.token}"
        if host_header:
            self._headers["Host"] = host_header  # http.client then sends no Host of its own
        # Verification stays on; create_default_context honours SSL_CERT_FILE/SSL_CERT_DIR.
        https = parts.scheme == "https"
        self._ssl = ssl.create_default_context(cafile=ca_file) if https else None
        self._conn: http.client.HTTPConnection | None = None
        self._closed = False

    def elsewhere(self, base_url: str) -> PipelineClient:
        """A client with the same credentials for the server's ``base_url``, or this one
        when that is where we are already."""
        url = urllib.parse.urljoin(self.url.rstrip("/") + "/", base_url)
        if url.rstrip("/") == self.url.rstrip("/"):
            return self
        return PipelineClient(
            url,
            self.token,
            timeout=self.timeout,
            ca_file=self._ca_file,
            display_url=self.display_url,
            host_header=self._host_header,
        )

    def pipeline(self, requests: list[dict[str, Any]], *, idempotent: bool) -> list[Any]:
        """Send requests on a fresh stream (they end with ``close``); return the results."""
        body = pipeline_body(None, [json.dumps(r) for r in requests])
        return list(self.send(body, idempotent=idempotent)["results"])

    def locate_parse_error(self, steps: Sequence[Step], offset: int = 0) -> None:
        """Raise ``StatementError`` (index + ``offset``) for the first step sqld cannot
        parse (sqld parses a whole batch before running any of it, and says only that
        one step failed). Each step goes in its own batch under a condition that is
        never true (``or`` of nothing), so it is parsed but never executed (and no
        ``describe`` is needed)."""
        never = {"type": "or", "conds": []}
        requests: list[dict[str, Any]] = [
            {"type": "batch", "batch": {"steps": [{"stmt": {"sql": s.sql}, "condition": never}]}}
            for s in steps
        ]
        results = self.pipeline([*requests, {"type": "close"}], idempotent=True)
        for i in range(len(steps)):
            try:
                response(results, i, self.display_url)
            except DatabaseError as exc:
                raise StatementError(offset + i, exc.message, exc.code) from None

    def check_access(self, *, write: bool) -> None:
        """Raise ``AuthFailed`` with the server's own text if our token may not read
        (or write). The write probe ``DELETE FROM sqlite_schema WHERE 0`` can never
        change anything: SQLite refuses it, but sqld checks permissions first (403).
        The ws driver asks this when its socket just closes."""
        sql = "DELETE FROM sqlite_schema WHERE 0" if write else "SELECT 1"
        self.pipeline(
            [{"type": "batch", "batch": {"steps": [{"stmt": {"sql": sql}}]}}, {"type": "close"}],
            idempotent=True,
        )

    def send(
        self, body: bytes | Body, *, idempotent: bool, mid_transaction: bool = False
    ) -> dict[str, Any]:
        """POST one pipeline body; return the decoded answer (results, baton, base_url).

        ``mid_transaction``: the body holds no COMMIT and runs inside an open
        transaction, so a lost connection cannot have committed anything.
        """
        if self._closed:
            raise DatabaseError(f"{self.display_url}: the driver is closed", "CLIENT_CLOSED")
        headers = self._headers
        if isinstance(body, Body):  # http.client would send it chunked otherwise
            headers = {**headers, "Content-Length": str(len(body))}
        for attempt in (1, 2):
            conn, reused = self._connection()
            try:
                conn.request("POST", self._path, body, headers)
                answer = conn.getresponse()
                data = answer.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.drop()
                # A reused keep-alive connection the server had already closed: a
                # read can safely go again; a write might have landed, so it must not.
                if reused and idempotent and attempt == 1:
                    continue
                raise self._connection_error(
                    exc, write=not idempotent, mid_transaction=mid_transaction
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                self.drop()
                raise self._connection_error(
                    exc, write=not idempotent, mid_transaction=mid_transaction
                ) from None
            except BaseException:  # Ctrl-C mid-request: the connection is in an unknown state
                self.drop()
                raise
            if answer.will_close:
                self.drop()
            return self._parse(answer.status, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the keep-alive connection; safe to call twice."""
        self._closed = True
        self.drop()

    def drop(self) -> None:
        """Forget the connection (the next request opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = self._conn
        if conn is not None and conn.sock is not None and _readable(conn.sock):
            # An idle keep-alive socket that is readable was closed by the server
            # (or got garbage): reconnect before sending anything on it.
            self.drop()
            conn = None
        if conn is None:
            conn = open_connection(self._host, self._port, timeout=self.timeout, tls=self._ssl)
            self._conn = conn
        return conn, conn.sock is not None

    def _parse(self, status: int, data: bytes) -> dict[str, Any]:
        if status == 200:
            try:
                answer = json.loads(data)
                if not isinstance(answer["results"], list):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise DatabaseError(
                    f"{self.display_url}: the server's answer is not a Hrana v3 response",
                    "HRANA_PROTO_ERROR",
                ) from None
            return answer  # type: ignore[no-any-return]
        text, code = self._server_text(data)
        if status == 400 and code is None and "baton" in text.lower():
            # sqld: "Received an invalid baton" / "... has already been used": the stream
            # is gone and nothing ran (``hrana_session`` starts a new one)
            code = "BATON_INVALID"
        if code in INTERRUPTED_CODES:
            raise interrupted_error(code, self.display_url)
        if status in (401, 403):
            raise AuthFailed(
                auth_message(
                    self.display_url,
                    f"HTTP {status} {text}",
                    has_token=bool(self.token),
                    forbidden=status == 403,
                )
            )
        if status in (502, 503, 504):
            raise ConnectionFailed(f"cannot reach {self.display_url}: HTTP {status}: {text}")
        hint = ""
        if status == 404:
            hint = " (is this a libSQL server with Hrana v3, i.e. sqld 0.21 or later?)"
        raise DatabaseError(
            f"{self.display_url}: the server answered HTTP {status}: {text}{hint}", code
        )

    def _server_text(self, data: bytes) -> tuple[str, str | None]:
        text = data.decode("utf-8", "replace").strip()
        code = None
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            message = obj.get("message") or obj.get("error")
            if isinstance(message, str):
                text = message
            code = obj.get("code") if isinstance(obj.get("code"), str) else None
        if len(text) > _MAX_SERVER_TEXT:
            text = text[:_MAX_SERVER_TEXT] + "..."
        return scrub(text or "(empty body)", self.token), code

    def _connection_error(
        self, exc: BaseException, *, write: bool, mid_transaction: bool = False
    ) -> ConnectionFailed:
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = (
                f"TLS certificate verification failed ({exc.verify_message}); "
                "set SSL_CERT_FILE to your CA bundle if the server uses a private CA"
            )
        elif isinstance(exc, ssl.SSLError):
            detail = f"TLS error: {exc.reason or exc} (is the server really speaking https?)"
        elif isinstance(exc, socket.gaierror):
            detail = f"cannot resolve host {self._host!r}: {exc.strerror or exc}"
        elif isinstance(exc, TimeoutError):
            detail = f"no answer within {self.timeout:g} s"
        elif isinstance(exc, http.client.RemoteDisconnected):
            detail = "the server closed the connection without answering"
        elif isinstance(exc, OSError):
            detail = f"{type(exc).__name__}: {exc.strerror or exc}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        message = f"cannot reach {self.display_url}: {scrub(detail, self.token)}"
        if mid_transaction:
            message += _MID_TRANSACTION
        elif write:
            message += _MAYBE_APPLIED
        return ConnectionFailed(message)


#: A request given as the pieces of its JSON text (ASCII), in order.
Pieces = list[str]
#: Bytes handed to the socket at a time when a body is sent from its pieces.
BLOCK_BYTES = 65536


class Body:
    """A pipeline body kept as the ASCII JSON pieces it is made of and sent in blocks,
    so a request of thousands of steps is never copied into one string and then into
    bytes (three copies of 2 MB were alive while sqld ran a ``run_groups`` request).
    Iterable again for a retry; ``len`` is its Content-Length."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.length = sum(map(len, pieces))

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        block: list[str] = []
        size = 0
        for piece in self.pieces:
            block.append(piece)
            size += len(piece)
            if size >= BLOCK_BYTES:
                yield "".join(block).encode("ascii")
                block, size = [], 0
        if block:
            yield "".join(block).encode("ascii")


def pipeline_body(baton: str | None, requests: Sequence[str | Pieces]) -> bytes | Body:
    """A pipeline body from requests that are already JSON text (built per chunk); a
    request given as ``Pieces`` makes it a ``Body`` that is never joined."""
    head = '{"baton":' + json.dumps(baton) + ',"requests":['
    if all(isinstance(r, str) for r in requests):
        return (head + ",".join(requests) + "]}").encode()  # type: ignore[arg-type]
    pieces = [head]
    for n, request in enumerate(requests):
        if n:
            pieces.append(",")
        if isinstance(request, str):
            pieces.append(request)
        else:
            pieces.extend(request)
    pieces.append("]}")
    return Body(pieces)


def response(results: list[Any], i: int, display: str) -> dict[str, Any]:
    """The response of pipeline request ``i``; its error raised as ours."""
    try:
        item = results[i]
        if item["type"] == "ok":
            return item["response"]
        message, code = error_text(item.get("error") or {})
    except (IndexError, KeyError, TypeError):
        raise DatabaseError(f"{display}: malformed Hrana response", "HRANA_PROTO_ERROR") from None
    if code in INTERRUPTED_CODES:
        raise interrupted_error(code, display)
    raise DatabaseError(message, code)


def batch_error(results: list[Any], i: int, steps: int, display: str) -> DatabaseError | None:
    """The error of batch request ``i`` as a whole (None if it ran), checking that it
    answered every one of its ``steps``."""
    try:
        result = response(results, i, display)["result"]
        if len(result["step_results"]) == steps == len(result["step_errors"]):
            return None
    except DatabaseError as exc:
        return exc
    except (KeyError, TypeError):
        pass
    return DatabaseError(
        f"{display}: the server answered a batch of {steps} steps with a different number"
        " of results",
        "HRANA_PROTO_ERROR",
    )


def _readable(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
