"""sqld over HTTP: a small Hrana v3 client on the standard library.

Why our own: libsql-client is archived, speaks Hrana v1 over HTTP (no step
errors, no PRAGMA before BEGIN on one stream), imports aiohttp, hangs at exit
when not closed, and hides sqld's 401/403 text. One ``POST /v3/pipeline`` holding
``BEGIN``, the steps (each conditional on the previous one), ``COMMIT`` and a
conditional ``ROLLBACK`` is all-or-nothing in one round trip, and its
``step_errors`` tell exactly which step failed.

We never send Hrana ``describe``: on sqld it creates vector-index shadow tables
early and leaves the index empty (LIBSQL_NOTES.md section 5).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import math
import select
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.config.urls import redact_url
from migrate_tasks.drivers.base import Row, Step
from migrate_tasks.drivers.httpconn import open_connection
from migrate_tasks.errors import (
    AuthFailed,
    ConnectionFailed,
    DatabaseError,
    StatementError,
    UsageError,
)

log = logging.getLogger("migrate_tasks")
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_ABORT_TIMEOUT = 2.0
_MAX_SERVER_TEXT = 500
#: A stream whose transaction sqld ended behind our back reports autocommit mode.
_IN_TRANSACTION = {"type": "not", "cond": {"type": "is_autocommit"}}
_IN_TRANSACTION_JSON = json.dumps(_IN_TRANSACTION, separators=(",", ":"))
_JSON = json.JSONEncoder(separators=(",", ":"))
_encode_text: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_MID_TRANSACTION = (
    "; nothing of this unit was committed (the transaction was still open, and sqld rolls it back)"
)
_MAYBE_APPLIED = (
    "; the request may or may not have been applied, so check the migration history before retrying"
)


class HranaHttpDriver:
    """One keep-alive HTTP(S) connection to sqld speaking ``/v3/pipeline``."""

    name = "hrana-http"
    libsql_syntax = True
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
        parts = urllib.parse.urlsplit(url)
        self._url = url
        self._ca_file = ca_file
        # fleet: sqld routes namespaces by the Host header's first label; sending
        # ``<ns>.<host>`` ourselves reaches a namespace on 127.0.0.1 without DNS.
        self._host_header = host_header
        self.display_url = display_url or redact_url(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{self.display_url}: expected an http:// or https:// base URL")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/v3/pipeline"
        self._timeout = timeout
        self._token = auth_token or None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            self._headers["Authorization"] = f"Bearer {self._token}"
        if host_header:
            self._headers["Host"] = host_header  # http.client then sends no Host of its own
        # Verification stays on; create_default_context honours SSL_CERT_FILE/SSL_CERT_DIR.
        self._ssl = ssl.create_default_context(cafile=ca_file) if self._https else None
        self._conn: http.client.HTTPConnection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<HranaHttpDriver {self.display_url}>"

    def __enter__(self) -> HranaHttpDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the Driver protocol -------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement on a fresh stream (autocommit) and return its rows."""
        stmt = _stmt(sql, params, index=0)
        results = self._pipeline(
            [{"type": "execute", "stmt": stmt}, {"type": "close"}], idempotent=True
        )
        return _rows(_response(results, 0, self.display_url)["result"])

    def query_many(self, steps: Sequence[Step]) -> list[list[Row] | DatabaseError]:
        """Every step as its own ``execute`` request of ONE pipeline on a fresh stream
        (autocommit each): sqld answers each request on its own, so one failing read
        does not stop the others. Only reads are meant to go here; a read is safe to
        send again on a fresh connection, a write might have landed."""
        if not steps:
            return []
        requests: list[dict[str, Any]] = [
            {"type": "execute", "stmt": _stmt(step.sql, step.params, i)}
            for i, step in enumerate(steps)
        ]
        results = self._pipeline([*requests, {"type": "close"}], idempotent=True)
        if len(results) != len(requests) + 1:
            raise DatabaseError(
                f"{self.display_url}: the server answered {len(requests) + 1} requests with"
                f" {len(results)} results",
                "HRANA_PROTO_ERROR",
            )
        answers: list[list[Row] | DatabaseError] = []
        for i in range(len(steps)):
            try:
                answers.append(_rows(_response(results, i, self.display_url)["result"]))
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
            batch.append({"stmt": {"sql": _FOREIGN_KEYS_OFF, "want_rows": False}})
        begin = len(batch)  # index of BEGIN; step i is at begin + 1 + i
        batch.append(_control_step("BEGIN", _ok(begin - 1) if begin else None))
        for i, step in enumerate(steps):
            batch.append({"stmt": _stmt(step.sql, step.params, i), "condition": _ok(begin + i)})
        commit = begin + n + 1
        batch.append(_control_step("COMMIT", _ok(commit - 1)))
        batch.append(_control_step("ROLLBACK", {"type": "not", "cond": _ok(commit)}))
        if foreign_keys_off:
            batch.append(_control_step(_FOREIGN_KEYS_ON, None))
        result = self._batch(batch, steps)
        outcomes, errors = result["step_results"], result["step_errors"]
        if begin and errors[0] is not None:
            message, code = _error_text(errors[0])
            raise DatabaseError(f"could not turn foreign keys off: {message}", code)
        if errors[begin] is not None:
            message, code = _error_text(errors[begin])
            raise DatabaseError(f"could not start a transaction: {message}", code)
        for i in range(n):
            if errors[begin + 1 + i] is not None:
                raise _step_error(i, errors[begin + 1 + i], self.display_url)
        if errors[commit] is not None or outcomes[commit] is None:
            raise _commit_error(errors[commit], self.display_url)
        return [_rows(outcomes[begin + 1 + i]) for i in range(n)]

    def run_atomic_iter(self, steps: Iterable[Step], *, foreign_keys_off: bool = False) -> None:
        """Stream a unit of any size through ONE transaction on ONE Hrana stream.

        ``BEGIN`` opens the stream (its baton carries the transaction from request to
        request); then each chunk of steps is one ``batch`` request, every step
        conditional on the one before it, so nothing runs after a failure; the last
        chunk carries ``COMMIT`` and closes the stream. The first step of a chunk also
        requires the stream to be inside a transaction still: if sqld ended it between
        two requests, no step may run in autocommit mode.

        Memory: one chunk of steps and its request body. (Sending chunk k+1 before
        reading chunk k's answer was measured too: no faster, as sqld is the
        bottleneck, so requests stay strictly one at a time.)

        ``foreign_keys_off``: the first request sends ``PRAGMA foreign_keys=OFF`` before
        ``BEGIN`` on the new stream, the last one ``PRAGMA foreign_keys=ON`` after the
        COMMIT or ROLLBACK (as does the ROLLBACK after a failure).
        """
        stream: _Stream | None = None
        chunk: list[Step] = []
        encoded: list[str] = []
        size = 0
        start = 0  # global index of chunk[0]
        try:
            for i, step in enumerate(steps):
                if stream is None:
                    stream = self._begin_stream(foreign_keys_off=foreign_keys_off)
                text = _stream_step(step, i, len(chunk))
                chunk.append(step)
                encoded.append(text)
                size += len(text) + 1
                if (
                    len(chunk) >= self.chunk_max_steps
                    or size >= self.chunk_max_bytes
                    or time.monotonic() - stream.last_sent >= self.chunk_max_seconds
                ):
                    self._flush(stream, _Chunk(chunk, encoded, start, final=False))
                    start += len(chunk)
                    chunk, encoded, size = [], [], 0
            if stream is not None:
                self._flush(stream, _Chunk(chunk, encoded, start, final=True))
        except BaseException:  # also Ctrl-C and errors raised by the iterator itself
            if stream is not None:
                self._abort_stream(stream)
            raise
        finally:
            if stream is not None:
                stream.release()

    def _begin_stream(self, *, foreign_keys_off: bool = False) -> _Stream:
        """Open a stream with ``BEGIN`` and follow the server's ``base_url`` if any."""
        steps = [_control_step("BEGIN", None)]
        if foreign_keys_off:
            steps = [_control_step(_FOREIGN_KEYS_OFF, None), _control_step("BEGIN", _ok(0))]
        begin = json.dumps({"type": "batch", "batch": {"steps": steps}})
        answer = self._send(_body(None, [begin]), idempotent=True)
        error = _batch_error(answer["results"], 0, len(steps), self.display_url)
        if error is None:  # the request ran: did its steps?
            result = answer["results"][0]["response"]["result"]
            for outcome, failure in zip(result["step_results"], result["step_errors"], strict=True):
                if failure is not None or outcome is None:
                    message, code = _error_text(failure or {"message": "it did not run"})
                    error = DatabaseError(message, code)
                    break
        baton = answer.get("baton")
        if error is not None or not isinstance(baton, str):
            message = error.message if error else "the server returned no baton"
            raise DatabaseError(f"could not start a transaction: {message}", error and error.code)
        base_url = answer.get("base_url")
        target = self
        if isinstance(base_url, str) and base_url:
            url = urllib.parse.urljoin(self._url.rstrip("/") + "/", base_url)
            if url.rstrip("/") != self._url.rstrip("/"):
                target = HranaHttpDriver(
                    url,
                    self._token,
                    timeout=self._timeout,
                    ca_file=self._ca_file,
                    display_url=self.display_url,
                    host_header=self._host_header,
                )
        stream = _Stream(target, baton, own_target=target is not self)
        stream.foreign_keys_off = foreign_keys_off
        return stream

    def _flush(self, stream: _Stream, chunk: _Chunk) -> None:
        """Send ``chunk`` on the stream's baton and raise for its first failure. The
        final chunk adds ``COMMIT`` (only if every step ran), a ``ROLLBACK`` unless
        the COMMIT succeeded, and ``close``."""
        encoded, n, start = chunk.encoded, len(chunk.steps), chunk.start
        if chunk.final:
            commit_if = _ok(n - 1) if n else _IN_TRANSACTION
            commit = {"stmt": {"sql": "COMMIT", "want_rows": False}, "condition": commit_if}
            rollback = {
                "stmt": {"sql": "ROLLBACK", "want_rows": False},
                "condition": {"type": "not", "cond": _ok(n)},
            }
            encoded = [*encoded, json.dumps(commit), json.dumps(rollback)]
            if stream.foreign_keys_off:
                encoded.append(json.dumps(_control_step(_FOREIGN_KEYS_ON, None)))
        batch = '{"type":"batch","batch":{"steps":[' + ",".join(encoded) + "]}}"
        requests = [batch, '{"type":"close"}'] if chunk.final else [batch]
        body = _body(stream.baton, requests)
        answer = stream.target._send(body, idempotent=False, mid_transaction=not chunk.final)
        stream.last_sent = time.monotonic()
        stream.baton = answer.get("baton")
        stream.closed = chunk.final
        results = answer["results"]
        error = _batch_error(results, 0, len(encoded), self.display_url)
        if error is not None:
            if (error.code or "").startswith("SQL_") and n:
                # sqld parses the whole batch before running any of it: find the step.
                self._locate_parse_error(chunk.steps, offset=start)
            raise error
        result = results[0]["response"]["result"]
        outcomes, errors = result["step_results"], result["step_errors"]
        for j in range(n):
            if errors[j] is not None:
                raise _step_error(start + j, errors[j], self.display_url)
            if outcomes[j] is None:  # skipped without an error: no transaction any more
                raise interrupted_error("TRANSACTION_TIMEOUT", self.display_url)
        if chunk.final and (errors[n] is not None or outcomes[n] is None):
            if errors[n] is None:
                raise interrupted_error("TRANSACTION_TIMEOUT", self.display_url)
            raise _commit_error(errors[n], self.display_url)

    def _abort_stream(self, stream: _Stream) -> None:
        """Best effort ROLLBACK and close, so the write lock is free at once (sqld would
        otherwise keep it until the stream expires). Bounded by a short timeout: the
        original failure is what the user needs to see, soon."""
        target, timeout = stream.target, stream.target._timeout
        target._timeout = min(timeout, _ABORT_TIMEOUT)
        try:
            if stream.closed or stream.baton is None:
                return
            stream.closed = True
            target._drop()  # a fresh connection gets the short timeout
            steps = [_control_step("ROLLBACK", None)]
            if stream.foreign_keys_off:
                steps.append(_control_step(_FOREIGN_KEYS_ON, None))
            rollback = json.dumps({"type": "batch", "batch": {"steps": steps}})
            target._send(_body(stream.baton, [rollback, '{"type":"close"}']), idempotent=True)
        except Exception as exc:
            log.debug("rollback after a failure did not go through: %s", type(exc).__name__)
        finally:
            target._drop()
            target._timeout = timeout

    def run_each(self, steps: Sequence[Step]) -> list[list[Row]]:
        """Each step autocommits; a step runs only if the one before it succeeded."""
        if not steps:
            return []
        batch: list[dict[str, Any]] = []
        for i, step in enumerate(steps):
            entry: dict[str, Any] = {"stmt": _stmt(step.sql, step.params, i)}
            if i:
                entry["condition"] = _ok(i - 1)
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
                message, code = _error_text(error)
                raise StatementError(i, message, code)
        return [_rows(r) for r in result["step_results"]]

    def close(self) -> None:
        """Close the keep-alive connection; safe to call twice."""
        self._closed = True
        self._drop()

    # -- diagnostics for the ws driver ---------------------------------------

    def check_access(self, *, write: bool) -> None:
        """Raise ``AuthFailed`` with the server's own text if our token may not read
        (or write). The write probe ``DELETE FROM sqlite_schema WHERE 0`` can never
        change anything: SQLite refuses it, but sqld checks permissions first (403)."""
        sql = "DELETE FROM sqlite_schema WHERE 0" if write else "SELECT 1"
        self._pipeline(
            [{"type": "batch", "batch": {"steps": [{"stmt": {"sql": sql}}]}}, {"type": "close"}],
            idempotent=True,
        )

    # -- transport ------------------------------------------------------------

    def _batch(self, steps: list[dict[str, Any]], user: Sequence[Step]) -> dict[str, Any]:
        results = self._pipeline(
            [{"type": "batch", "batch": {"steps": steps}}, {"type": "close"}], idempotent=False
        )
        try:
            result = _response(results, 0, self.display_url)["result"]
        except DatabaseError as exc:
            # sqld parses every step before running any: one bad step fails the
            # whole request, without saying which. Nothing ran; find it.
            if (exc.code or "").startswith("SQL_"):
                self._locate_parse_error(user)
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

    def _locate_parse_error(self, steps: Sequence[Step], offset: int = 0) -> None:
        """Raise ``StatementError`` (index + ``offset``) for the first step sqld cannot
        parse. Each step goes in its own batch under a condition that is never true
        (``or`` of nothing), so it is parsed but never executed (and no ``describe``
        is needed)."""
        never = {"type": "or", "conds": []}
        requests: list[dict[str, Any]] = [
            {"type": "batch", "batch": {"steps": [{"stmt": {"sql": s.sql}, "condition": never}]}}
            for s in steps
        ]
        results = self._pipeline([*requests, {"type": "close"}], idempotent=True)
        for i in range(len(steps)):
            try:
                _response(results, i, self.display_url)
            except DatabaseError as exc:
                raise StatementError(offset + i, exc.message, exc.code) from None

    def _pipeline(self, requests: list[dict[str, Any]], *, idempotent: bool) -> list[Any]:
        """Send requests on a fresh stream (they end with ``close``); return the results."""
        body = _body(None, [json.dumps(r) for r in requests])
        return list(self._send(body, idempotent=idempotent)["results"])

    def _send(
        self, body: bytes, *, idempotent: bool, mid_transaction: bool = False
    ) -> dict[str, Any]:
        """POST one pipeline body; return the decoded answer (results, baton, base_url).

        ``mid_transaction``: the body holds no COMMIT and runs inside an open
        transaction, so a lost connection cannot have committed anything.
        """
        if self._closed:
            raise DatabaseError(f"{self.display_url}: the driver is closed", "CLIENT_CLOSED")
        for attempt in (1, 2):
            conn, reused = self._connection()
            try:
                conn.request("POST", self._path, body, self._headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop()
                # A reused keep-alive connection the server had already closed: a
                # read can safely go again; a write might have landed, so it must not.
                if reused and idempotent and attempt == 1:
                    continue
                raise self._connection_error(
                    exc, write=not idempotent, mid_transaction=mid_transaction
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise self._connection_error(
                    exc, write=not idempotent, mid_transaction=mid_transaction
                ) from None
            except BaseException:  # Ctrl-C mid-request: the connection is in an unknown state
                self._drop()
                raise
            if response.will_close:
                self._drop()
            return self._parse(response.status, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = self._conn
        if conn is not None and conn.sock is not None and _readable(conn.sock):
            # An idle keep-alive socket that is readable was closed by the server
            # (or got garbage): reconnect before sending anything on it.
            self._drop()
            conn = None
        if conn is None:
            conn = open_connection(self._host, self._port, timeout=self._timeout, tls=self._ssl)
            self._conn = conn
        return conn, conn.sock is not None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

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
        if code in INTERRUPTED_CODES:
            raise interrupted_error(code, self.display_url)
        if status in (401, 403):
            raise AuthFailed(self._auth_message(status, text))
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
        return scrub(text or "(empty body)", self._token), code

    def _auth_message(self, status: int, text: str) -> str:
        return auth_message(
            self.display_url,
            f"HTTP {status} {text}",
            has_token=bool(self._token),
            forbidden=status == 403,
        )

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
            detail = f"no answer within {self._timeout:g} s"
        elif isinstance(exc, http.client.RemoteDisconnected):
            detail = "the server closed the connection without answering"
        elif isinstance(exc, OSError):
            detail = f"{type(exc).__name__}: {exc.strerror or exc}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        message = f"cannot reach {self.display_url}: {scrub(detail, self._token)}"
        if mid_transaction:
            message += _MID_TRANSACTION
        elif write:
            message += _MAYBE_APPLIED
        return ConnectionFailed(message)


def auth_message(display: str, server_text: str, *, has_token: bool, forbidden: bool) -> str:
    """Say which of the four auth problems this is, keeping the server's own words."""
    if forbidden:
        hint = (
            "the auth token is valid but not allowed to do this "
            "(a read-only token cannot write; use a token with write access)"
        )
    elif not has_token:
        hint = (
            "the server requires an auth token and none was given; "
            "pass --auth-token or add ?authToken=... to the URL"
        )
    elif "expired" in server_text.lower():
        hint = "the auth token has expired; create a new one"
    else:
        hint = (
            "the auth token is invalid (malformed, or signed by a key this server does not trust)"
        )
    return f"{display}: {hint} (server: {server_text})"


# -- Hrana values -------------------------------------------------------------


def to_hrana(value: Any) -> dict[str, Any]:
    """Encode one Python value as a Hrana value (integers travel as strings)."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "integer", "value": "1" if value else "0"}
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError(f"integer {value} does not fit in SQLite's 64 bits")
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be sent to sqld (JSON has no NaN/Infinity)")
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "text", "value": value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"type": "blob", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    raise ValueError(f"unsupported parameter type {type(value).__name__}")


def from_hrana(value: dict[str, Any]) -> Any:
    """Decode one Hrana value; sqld sends base64 without padding, so add it back."""
    kind = value.get("type")
    if kind == "null":
        return None
    if kind == "integer":
        return int(value["value"])
    if kind == "float":
        return float(value["value"])
    if kind == "text":
        return value["value"]
    if kind == "blob":
        data = value.get("base64") or ""
        return base64.b64decode(data + "=" * (-len(data) % 4))
    raise DatabaseError(f"unknown Hrana value type {kind!r}", "HRANA_PROTO_ERROR")


def _stmt(sql: str, params: Sequence[Any], index: int, *, rows: bool = True) -> dict[str, Any]:
    try:
        args = [to_hrana(p) for p in params]
    except ValueError as exc:
        raise StatementError(index, f"bad parameter: {exc}", "ARGS_INVALID") from None
    return {"sql": sql, "args": args, "want_rows": rows}


def _stream_step(step: Step, index: int, position: int) -> str:
    """One step of a streamed chunk as JSON text, conditional on the step before it
    (the first of a chunk: on still being inside the transaction). Built from pieces
    because a ``json.dumps`` per step was a third of the client's time on 2M steps."""
    args = "[]"
    if step.params:
        args = _JSON.encode(_stmt(step.sql, step.params, index)["args"])
    condition = f'{{"type":"ok","step":{position - 1}}}' if position else _IN_TRANSACTION_JSON
    return (
        f'{{"stmt":{{"sql":{_encode_text(step.sql)},"args":{args},"want_rows":false}},'
        f'"condition":{condition}}}'
    )


def _body(baton: str | None, requests: list[str]) -> bytes:
    """A pipeline body from requests that are already JSON text (built per chunk)."""
    return ('{"baton":' + json.dumps(baton) + ',"requests":[' + ",".join(requests) + "]}").encode()


def _ok(step: int) -> dict[str, Any]:
    return {"type": "ok", "step": step}


_FOREIGN_KEYS_OFF = "PRAGMA foreign_keys=OFF"
_FOREIGN_KEYS_ON = "PRAGMA foreign_keys=ON"


def _control_step(sql: str, condition: dict[str, Any] | None) -> dict[str, Any]:
    """A batch step of ours (no rows wanted), run only if ``condition`` holds."""
    step: dict[str, Any] = {"stmt": {"sql": sql, "want_rows": False}}
    if condition is not None:
        step["condition"] = condition
    return step


def _rows(result: dict[str, Any] | None) -> list[Row]:
    if not result:
        return []
    return [tuple(from_hrana(v) for v in row) for row in result.get("rows", ())]


def _response(results: list[Any], i: int, display: str) -> dict[str, Any]:
    try:
        item = results[i]
        if item["type"] == "ok":
            return item["response"]
        message, code = _error_text(item.get("error") or {})
    except (IndexError, KeyError, TypeError):
        raise DatabaseError(f"{display}: malformed Hrana response", "HRANA_PROTO_ERROR") from None
    if code in INTERRUPTED_CODES:
        raise interrupted_error(code, display)
    raise DatabaseError(message, code)


def _batch_error(results: list[Any], i: int, steps: int, display: str) -> DatabaseError | None:
    """The error of batch request ``i`` as a whole (None if it ran), checking that it
    answered every one of its ``steps``."""
    try:
        result = _response(results, i, display)["result"]
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


def _step_error(index: int, error: dict[str, Any], display: str) -> DatabaseError:
    """Step ``index`` failed: its own fault (``StatementError``), or sqld ended the
    transaction under it (a plain ``DatabaseError`` that says so)."""
    message, code = _error_text(error)
    if code in INTERRUPTED_CODES:
        return interrupted_error(code, display)
    return StatementError(index, message, code)


def _commit_error(error: dict[str, Any] | None, display: str) -> DatabaseError:
    message, code = _error_text(error or {"message": "COMMIT did not run"})
    if code in INTERRUPTED_CODES:
        return interrupted_error(code, display)
    return DatabaseError(f"COMMIT failed, nothing of this unit was applied: {message}", code)


#: sqld ended the transaction itself; the unit is not at fault.
INTERRUPTED_CODES = frozenset({"TRANSACTION_TIMEOUT", "STREAM_EXPIRED"})


def interrupted_error(code: str, display: str) -> DatabaseError:
    """A clear error for a transaction sqld ended on its own: what happened, that
    nothing of the unit was applied, and what to do about it."""
    if code == "STREAM_EXPIRED":
        what = (
            "sqld dropped the transaction because its HTTP stream was idle for more than"
            " 10 s between two requests (STREAM_EXPIRED)"
        )
        todo = (
            "run it again, and keep the process from pausing mid-run (a suspended"
            " terminal, a slow disk or a debugger)"
        )
    else:
        what = (
            "sqld rolled back the transaction because another writer waited for the"
            " database while this transaction was more than 5 s old (TRANSACTION_TIMEOUT)"
        )
        todo = (
            "run big migrations when no other writer is active, or split them into"
            " smaller migrations; on a namespace you can raise its txn_timeout_s"
        )
    return DatabaseError(f"{display}: {what}; nothing of this unit was applied; {todo}", code)


class _Chunk:
    """The steps of one request of a streamed unit, and their JSON."""

    def __init__(self, steps: list[Step], encoded: list[str], start: int, *, final: bool):
        self.steps = steps
        self.encoded = encoded
        self.start = start  # global index of steps[0]
        self.final = final


class _Stream:
    """The state of one open Hrana stream: where to send, and its current baton."""

    def __init__(self, target: HranaHttpDriver, baton: str, *, own_target: bool) -> None:
        self.target = target
        self.baton: str | None = baton
        self.last_sent = time.monotonic()
        self.closed = False
        #: The stream runs with foreign keys off: turn them on again before closing it.
        self.foreign_keys_off = False
        self._own_target = own_target

    def release(self) -> None:
        """Close the extra connection made for a ``base_url`` that is not ours."""
        if self._own_target:
            self.target.close()


def _error_text(error: dict[str, Any]) -> tuple[str, str | None]:
    return str(error.get("message") or "unknown error"), error.get("code")


def _readable(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
