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

import http.client
import re
import ssl
import urllib.parse
from collections.abc import Mapping

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
        path = f"/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/config"
        status, body = self._get(path)
        if status == 200:
            return True
        if status == 404:
            return False
        raise self._error(path, status, body)

    def _get(self, path: str) -> tuple[int, str]:
        tls = ssl.create_default_context() if self._https else None
        conn = open_connection(self._host, self._port, timeout=self._timeout, tls=tls)
        try:
            conn.request("GET", self._prefix + path, headers=self._headers)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionFailed(
                f"cannot reach sqld's admin API at {self.display}: {type(exc).__name__}: "
                f"{scrub(str(exc), self._key)}"
            ) from None
        finally:
            conn.close()

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
