"""sqld's admin API, as far as a fleet needs it: which namespaces exist, and how to reach one.

What sqld 0.24.32 offers (tried against a real server; see docs/fleet.md):

- There is **no endpoint that lists namespaces**. ``GET /v1/namespaces`` (and any other
  unknown path) answers ``200`` with an empty ``application/grpc`` body and
  ``grpc-status: 12`` (unimplemented): the admin port falls back to its gRPC service.
- ``GET /v1/namespaces/<ns>/config`` answers 200 (JSON) for a namespace that exists and
  404 ``Namespace `<ns>` doesn't exist`` otherwise: a reliable existence check.
- ``GET /metrics`` (Prometheus text) carries ``namespace="<ns>"`` labels, e.g.
  ``libsql_server_storage{namespace="t01"}``. Only for namespaces created or opened since
  sqld last started (after a restart it shows none until each one is used), and a deleted
  namespace stays in it until the next restart. So it can *suggest* names, never prove
  the list complete; every name it suggests is checked with the config endpoint.
- With ``--admin-auth-key KEY`` every admin route wants ``Authorization: basic KEY``
  (``Bearer`` is refused with 401). We read the key from ``LIBSQL_ADMIN_AUTH_KEY``, the
  variable sqld itself reads it from.

Data plane: sqld picks the namespace from the first label of the ``Host`` header, so
``http://127.0.0.1:PORT`` means namespace ``127``. Path routing (``/dev/<ns>/v3/pipeline``)
only works when the Host header has no dot (``localhost``) and the default namespace is
enabled. We therefore connect to the URL's address and send ``Host: <ns>.<host>``
ourselves, which needs no DNS and works whatever the server's flags.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import ssl
import urllib.parse
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from migrate_tasks.config import defaults
from migrate_tasks.config.secrets import scrub
from migrate_tasks.config.urls import parse_target, redact_url, require_tls
from migrate_tasks.drivers.httpconn import open_connection
from migrate_tasks.errors import AuthFailed, ConnectionFailed, DatabaseError, UsageError

ADMIN_KEY_ENV = "LIBSQL_ADMIN_AUTH_KEY"
#: Namespaces a fleet discovered through /metrics leaves out: ``default`` is the
#: server's fallback database, not a tenant. Name it in a names file to include it.
EXCLUDED_BY_DEFAULT = frozenset({"default"})
_LABEL_RE = re.compile(r'[{,]\s*namespace="((?:[^"\\]|\\.)*)"')
#: Characters a namespace may have and still be the first label of a Host header.
_NAME_RE = re.compile(r"^[A-Za-z0-9_\-!~*'()$&+;=]+$")


#: Namespace checks in flight at once (each worker keeps one connection).
CHECK_WORKERS = 8


class AdminApi:
    """A few GETs against sqld's admin port (``--admin-listen-addr``)."""

    def __init__(
        self,
        url: str,
        *,
        key: str | None = None,
        insecure: bool = False,
        timeout: float = defaults.ADMIN_TIMEOUT_S,
    ) -> None:
        self.display = redact_url(url)
        target = parse_target(url)
        if target.kind != "http" or target.url is None:
            raise UsageError(
                f"--admin-url {self.display}: expected the http(s):// address of sqld's admin"
                " API (its --admin-listen-addr)"
            )
        require_tls(target, insecure=insecure)
        parts = urllib.parse.urlsplit(target.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._key = key or None
        self._headers = {"Accept": "application/json, text/plain"}
        if self._key:
            self._headers["Authorization"] = f"basic {self._key}"

    @classmethod
    def from_env(
        cls,
        url: str,
        environ: Mapping[str, str],
        *,
        insecure: bool = False,
        timeout: float = defaults.ADMIN_TIMEOUT_S,
    ) -> AdminApi:
        return cls(url, key=environ.get(ADMIN_KEY_ENV), insecure=insecure, timeout=timeout)

    def namespaces_in_metrics(self) -> set[str]:
        """Names carried by ``namespace=`` labels in /metrics (a hint, see the module doc)."""
        status, body = self._get("/metrics")
        if status != 200:
            raise self._error("/metrics", status, body)
        return {_unescape(m.group(1)) for m in _LABEL_RE.finditer(body)}

    def exists(self, namespace: str) -> bool:
        """True if sqld has this namespace (its config endpoint answers 200, not 404)."""
        return bool(self.existing([namespace]))

    def existing(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` sqld has, checked ``CHECK_WORKERS`` at a time, each worker
        on one kept-alive connection: a fleet of 100 tenants is 100 checks before any
        migration, which cost a TCP (and TLS) handshake each, one after the other."""
        unique = list(dict.fromkeys(names))
        workers = min(CHECK_WORKERS, len(unique))
        if workers <= 1:
            return self._existing_on_one_connection(unique)
        shares = [unique[i::workers] for i in range(workers)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return set().union(*pool.map(self._existing_on_one_connection, shares))

    def _existing_on_one_connection(self, names: list[str]) -> set[str]:
        found = set()
        with contextlib.closing(_Session(self)) as session:
            for name in names:
                path = f"/v1/namespaces/{urllib.parse.quote(name, safe='')}/config"
                status, body = session.get(path)
                if status == 200:
                    found.add(name)
                elif status != 404:
                    raise self._error(path, status, body)
        return found

    def _get(self, path: str) -> tuple[int, str]:
        with contextlib.closing(_Session(self)) as session:
            return session.get(path)

    def _connect(self) -> http.client.HTTPConnection:
        tls = ssl.create_default_context() if self._https else None
        return open_connection(self._host, self._port, timeout=self._timeout, tls=tls)

    def _unreachable(self, exc: Exception) -> ConnectionFailed:
        return ConnectionFailed(
            f"cannot reach sqld's admin API at {self.display}: {type(exc).__name__}: "
            f"{scrub(str(exc), self._key)}"
        )

    def _error(self, path: str, status: int, body: str) -> Exception:
        text = scrub(body.strip(), self._key)[:300] or "(empty body)"
        if status in (401, 403):
            hint = (
                f"set {ADMIN_KEY_ENV} to the server's --admin-auth-key"
                if not self._key
                else f"check {ADMIN_KEY_ENV}: the server refused it"
            )
            return AuthFailed(f"sqld's admin API at {self.display} answered {status}: {hint}")
        return DatabaseError(f"sqld's admin API at {self.display}{path} answered {status}: {text}")


class _Session:
    """GETs on one kept-alive connection to the admin API, opened when first needed. A
    connection the server closed between two GETs is opened again once (a GET changes
    nothing, so sending it again is safe)."""

    def __init__(self, api: AdminApi) -> None:
        self._api = api
        self._conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, str]:
        reused = self._conn is not None
        try:
            return self._get(path)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            if not reused:
                raise self._api._unreachable(exc) from None
        try:  # the server closed our idle connection: once more, on a new one
            return self._get(path)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise self._api._unreachable(exc) from None

    def _get(self, path: str) -> tuple[int, str]:
        api = self._api
        if self._conn is None:
            self._conn = api._connect()
        self._conn.request("GET", api._prefix + path, headers=api._headers)
        response = self._conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        if response.will_close:
            self.close()
        return response.status, body

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def check_namespace_name(name: str, where: str) -> str:
    """A namespace must be usable as the first label of a Host header."""
    if not _NAME_RE.match(name):
        raise UsageError(
            f"{where}: namespace {name!r} cannot be addressed through the Host header"
            " (use letters, digits, '-' and '_'; no dots, slashes or spaces)"
        )
    return name


def namespace_host(base_url: str, namespace: str) -> str:
    """The Host header that makes sqld at ``base_url`` route to ``namespace``."""
    parts = urllib.parse.urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{namespace}.{host}{port}"


def _unescape(value: str) -> str:
    """Undo Prometheus label escaping (backslash, double quote, newline)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)
