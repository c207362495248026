"""Database URLs: which kind of target a URL names, and how to print it safely.

Pure string handling (no I/O) so every later message can use ``Target.display``
and never leak an auth token. The accepted forms follow libsql-client's rules,
except that ``libsql://`` means HTTPS here: our remote driver speaks Hrana over
HTTP, which needs no extra dependency and can do all-or-nothing batches.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from migrate_tasks.errors import UsageError

TargetKind = Literal["file", "http", "ws"]

_SUPPORTED = "use file:, http(s)://, libsql://, ws(s)://, or a plain file path"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Query parameters whose value is a secret, by name (authToken, token, password, api_key...).
_SECRET_PARAM_RE = re.compile(
    r"([?&;][^=&#;]*(?:token|password|passwd|secret|key)[^=&#;]*=)([^&#;]*)", re.IGNORECASE
)
_USERINFO_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/@:?#]*):([^/?#]*)@")
# A user name alone may be a token pasted in the wrong place (https://TOKEN@host).
_USER_ONLY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@:?#]+@")


@dataclass(frozen=True)
class Target:
    """Where a database lives, split into what each driver needs."""

    kind: TargetKind
    #: File path for ``kind == "file"`` (may be ``":memory:"``), else None.
    path: str | None
    #: Base URL without query for http (``http(s)://host[:port][/base]``) and ws, else None.
    url: str | None
    #: The ``authToken`` query parameter, if the URL carried one.
    token: str | None
    #: The URL as the user wrote it with every secret replaced: safe to print.
    display: str

    def __repr__(self) -> str:  # the dataclass repr would print the token
        return f"Target(kind={self.kind!r}, path={self.path!r}, url={self.url!r}, display={self.display!r})"


def redact_url(url: str) -> str:
    """Return ``url`` with token/password query values, a ``user:password@`` password and
    a lone ``user@`` replaced by ``***``. Never raises, so it is safe in error handlers."""
    try:
        text = _USERINFO_RE.sub(r"\1:***@", str(url))
        text = _USER_ONLY_RE.sub(r"\1***@", text)
        return _SECRET_PARAM_RE.sub(r"\1***", text)
    except Exception:  # pragma: no cover - defensive: a redactor must not fail
        return "<unprintable URL>"


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and ``*.localhost`` (RFC 6761), 127.0.0.0/8 and ::1 (also
    IPv4-mapped). Never raises."""
    if not host:
        return False
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return bool(addr.is_loopback or (mapped is not None and mapped.is_loopback))


def connect_host(host: str) -> str:
    """The name to open a socket to for ``host``: ``localhost`` for a ``*.localhost`` name.

    RFC 6761 makes every ``*.localhost`` name loopback (sqld addresses a namespace as
    ``NS.localhost``), but many resolvers do not know that. Callers still send ``host``
    itself in the Host header and as the TLS server name.
    """
    name = host.strip().rstrip(".").lower()
    return "localhost" if name.endswith(".localhost") else host


def parse_target(url: str) -> Target:
    """Classify a database URL or path; raise ``UsageError`` naming the redacted URL."""
    if url is None or not str(url).strip():
        raise UsageError(
            "the database URL is empty; set --url (or DATABASE_URL), e.g. file:dev.db or http://127.0.0.1:8080"
        )
    url = str(url).strip()
    display = redact_url(url)
    if url == ":memory:":
        return Target("file", ":memory:", None, None, display)
    match = _SCHEME_RE.match(url)
    # One letter before ':' is a Windows drive (C:\x.db), not a scheme.
    if match is None or len(match.group(1)) == 1:
        return Target("file", url, None, None, display)
    scheme = match.group(1).lower()
    if scheme in ("file", "sqlite", "sqlite3"):  # sqlite(3): dbmate's spelling of a file
        return _parse_file(url, display, scheme)
    if scheme in ("http", "https", "libsql", "ws", "wss"):
        return _parse_network(url, scheme, display)
    raise UsageError(f"{display} is not a libSQL URL; {_SUPPORTED}")


def _parse_file(url: str, display: str, scheme: str = "file") -> Target:
    rest = url[len(scheme) + 1 :]
    rest, _, query = rest.partition("?")
    if query:
        names = sorted({k for k, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)})
        got = ", ".join(names) or "?" + query
        raise UsageError(f"{display}: {scheme}: URLs take no query parameters (got {got})")
    if "#" in rest:
        raise UsageError(f"{display}: {scheme}: URLs cannot have a #fragment")
    if rest.startswith("//"):
        host, sep, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise UsageError(
                f"{display}: {scheme}://{host}/... names another host; use"
                f" {scheme}:///absolute/path or {scheme}:relative/path"
            )
        rest = sep + path
    path = urllib.parse.unquote(rest)
    if not path:
        raise UsageError(f"{display}: the {scheme}: URL has no path; use e.g. file:dev.db")
    return Target("file", path, None, None, display)


def _parse_network(url: str, scheme: str, display: str) -> Target:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{display}: invalid URL ({redact_url(str(exc))})") from None
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"{display}: user names and passwords in the URL are not supported; "
            "pass the token with ?authToken=... or --auth-token"
        )
    if not parts.hostname:
        raise UsageError(f"{display}: the URL has no host name")
    if parts.fragment:
        raise UsageError(f"{display}: the URL cannot have a #fragment")
    token, tls = _parse_query(parts.query, display)

    if scheme == "libsql":
        if tls is False and port is None:
            raise UsageError(
                f"{display}: a libsql: URL with ?tls=0 must give an explicit port, e.g. libsql://127.0.0.1:8080?tls=0"
            )
        scheme = "http" if tls is False else "https"
    elif scheme in ("http", "ws") and tls is True:
        raise UsageError(
            f"{display}: a {scheme}: URL cannot ask for TLS with ?tls=1; use {scheme}s:"
        )
    elif scheme in ("https", "wss") and tls is False:
        raise UsageError(
            f"{display}: a {scheme}: URL cannot turn TLS off with ?tls=0; use {scheme[:-1]}:"
        )

    base = urllib.parse.urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    kind: TargetKind = "ws" if scheme in ("ws", "wss") else "http"
    return Target(kind, None, base, token, display)


def _parse_query(query: str, display: str) -> tuple[str | None, bool | None]:
    token: str | None = None
    tls: bool | None = None
    seen: set[str] = set()
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key in seen:
            raise UsageError(f"{display}: the query parameter {key!r} is given twice")
        seen.add(key)
        if key == "authToken":
            token = value or None
        elif key == "tls":
            if value not in ("0", "1"):
                raise UsageError(f"{display}: ?tls= must be 0 or 1")
            tls = value == "1"
        else:
            # Name only: a misspelt parameter's value may be a secret.
            raise UsageError(
                f"{display}: unknown query parameter {key!r}; only authToken and tls are accepted"
            )
    return token, tls


def require_tls(target: Target, *, insecure: bool) -> None:
    """Refuse plain http:// or ws:// to anything but loopback: a token and the schema
    would cross the network in clear text. ``--insecure`` is the explicit way out."""
    if target.kind == "file" or insecure or target.url is None:
        return
    parts = urllib.parse.urlsplit(target.url)
    if parts.scheme in ("https", "wss") or is_loopback(parts.hostname):
        return
    raise UsageError(
        f"{target.display}: refusing to talk to {parts.hostname} without TLS; use https://, "
        "wss:// or libsql:// (without ?tls=0), or pass --insecure if this network is trusted"
    )
