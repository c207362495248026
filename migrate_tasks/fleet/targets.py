"""Where a fleet's databases come from: a file of URLs, a glob of files, sqld namespaces.

Everything is checked here, before any database is touched: a token written into the
fleet file, an unset ``token_env`` variable, a pattern that matches nothing, a namespace
the server does not have, the same database twice. Each is a ``UsageError`` naming the
file and line.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from migrate_tasks.config import defaults
from migrate_tasks.config.urls import TargetKind, parse_target, require_tls
from migrate_tasks.errors import UsageError
from migrate_tasks.fleet.admin import (
    EXCLUDED_BY_DEFAULT,
    AdminApi,
    check_namespace_name,
    namespace_host,
)

log = logging.getLogger("migrate_tasks")

GLOB_CHARS = frozenset("*?[")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class FleetTarget:
    """One database of a fleet: where it is, how to print it, and its own token."""

    display: str  # safe to print: no token
    kind: TargetKind
    location: str  # a file path, or a base URL without query
    token: str | None = field(default=None, repr=False)
    host_header: str | None = None  # set for a sqld namespace
    namespace: str | None = None
    origin: str = ""  # e.g. "fleet.txt:3", for messages

    def key(self) -> tuple[str, str, str | None]:
        location = os.path.abspath(self.location) if self.kind == "file" else self.location
        return (self.kind, location, self.host_header)


def discover_targets(
    fleet: str | None,
    *,
    admin_url: str | None = None,
    base_url: str | None = None,
    auth_token: str | None = None,
    insecure: bool = False,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = defaults.ADMIN_TIMEOUT_S,
) -> list[FleetTarget]:
    """The databases named by ``--fleet`` / ``--admin-url``; raises ``UsageError`` early.

    With ``admin_url``: the namespaces of the sqld whose data plane is ``base_url``;
    ``fleet`` is then an optional file of namespace names. Without: ``fleet`` is a file
    of URLs, an SQLite file, or a glob of local files. ``auth_token`` is the token of
    every remote database that names no ``token_env`` of its own.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if admin_url:
        admin = AdminApi.from_env(admin_url, environ, insecure=insecure, timeout=timeout)
        names = _read_names(_resolve(fleet, cwd)) if fleet else None
        return namespace_targets(
            admin, base_url or "", names, auth_token=auth_token, insecure=insecure, environ=environ
        )
    if not fleet:
        raise UsageError("name the databases: --fleet FILE, --fleet 'GLOB', or --admin-url")
    path = _resolve(fleet, cwd)
    if path.is_file():
        if _is_sqlite(path):
            return [FleetTarget(fleet, "file", str(path))]
        targets = _read_url_file(path, fleet, cwd, auth_token, insecure, environ)
    elif GLOB_CHARS & set(fleet):
        targets = _expand_glob(fleet, cwd)
    elif path.is_dir():
        raise UsageError(f"--fleet {fleet} is a folder; give a glob such as '{fleet}/*.db'")
    else:
        raise UsageError(f"--fleet {fleet}: no such file (and no * ? [ to expand as a glob)")
    return _no_duplicates(targets)


def _resolve(name: str, cwd: Path) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else cwd / path


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def _entries(path: Path, shown: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(origin, first word, options) per line; ``#`` starts a comment."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the fleet file {shown}: {exc}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split()
        for i, word in enumerate(words):
            if word.startswith("#"):
                words = words[:i]
                break
        if not words:
            continue
        origin = f"{shown}:{number}"
        options: dict[str, str] = {}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if "token" in key.lower() and key != "token_env":
                raise UsageError(
                    f"{origin}: tokens never go in the fleet file; put it in an environment"
                    " variable and write token_env=VARNAME"
                )
            if key != "token_env" or not sep:
                raise UsageError(
                    f"{origin}: unknown option {key!r}; the only option is token_env=VARNAME"
                )
            if key in options:
                raise UsageError(f"{origin}: token_env is given twice")
            options[key] = value
        yield origin, words[0], options


def _token_from_env(origin: str, name: str, environ: Mapping[str, str]) -> str:
    if not _ENV_NAME_RE.match(name):
        raise UsageError(f"{origin}: token_env={name!r} is not an environment variable name")
    value = environ.get(name)
    if not value:
        raise UsageError(f"{origin}: token_env={name}, but {name} is not set (or empty)")
    return value


def _read_url_file(
    path: Path,
    shown: str,
    cwd: Path,
    auth_token: str | None,
    insecure: bool,
    environ: Mapping[str, str],
) -> list[FleetTarget]:
    targets = []
    for origin, word, options in _entries(path, shown):
        try:
            target = parse_target(word)
            if target.kind != "file":
                require_tls(target, insecure=insecure)
        except UsageError as exc:
            raise UsageError(f"{origin}: {exc}") from None
        if target.token:
            raise UsageError(
                f"{origin}: {target.display} carries a token; tokens never go in the fleet"
                " file: remove authToken= and add token_env=VARNAME"
            )
        env_name = options.get("token_env")
        if target.kind == "file":
            if env_name:
                raise UsageError(f"{origin}: a local file takes no token_env")
            if target.path == ":memory:":
                raise UsageError(f"{origin}: :memory: is no database to migrate")
            assert target.path is not None
            location = str(_resolve(target.path, cwd))
            targets.append(FleetTarget(target.display, "file", location, origin=origin))
            continue
        assert target.url is not None
        token = _token_from_env(origin, env_name, environ) if env_name else auth_token
        targets.append(
            FleetTarget(target.display, target.kind, target.url, token=token, origin=origin)
        )
    if not targets:
        raise UsageError(f"the fleet file {shown} names no databases")
    return targets


def _expand_glob(pattern: str, cwd: Path) -> list[FleetTarget]:
    root = None if os.path.isabs(os.path.expanduser(pattern)) else cwd
    matches = sorted(glob.glob(os.path.expanduser(pattern), root_dir=root, recursive=True))
    targets = []
    for match in matches:
        full = Path(match) if root is None else root / match
        if full.is_file() and not match.endswith(_SIDE_FILES):
            targets.append(FleetTarget(match, "file", str(full), origin=pattern))
    if not targets:
        raise UsageError(f"--fleet {pattern!r} matched no database files (looked in {cwd})")
    return targets


def _read_names(path: Path) -> list[tuple[str, str, str | None]]:
    """(namespace, origin, token_env) per line of a names file."""
    if not path.is_file():
        raise UsageError(f"--fleet {path}: no such file (with --admin-url it lists namespaces)")
    names = []
    for origin, word, options in _entries(path, str(path)):
        if "://" in word or word.startswith("file:"):
            raise UsageError(
                f"{origin}: with --admin-url, --fleet lists namespace names, not URLs ({word!r})"
            )
        names.append((check_namespace_name(word, origin), origin, options.get("token_env")))
    if not names:
        raise UsageError(f"{path} names no namespaces")
    return names


def namespace_targets(
    admin: AdminApi,
    base_url: str,
    names: Sequence[tuple[str, str, str | None]] | None,
    *,
    auth_token: str | None = None,
    insecure: bool = False,
    environ: Mapping[str, str] | None = None,
) -> list[FleetTarget]:
    """Every namespace to migrate, each addressed by a Host header on ``base_url``.

    ``names`` given: exactly those, each checked to exist (a missing one is an error, so
    a typo cannot quietly skip a tenant). None: the names /metrics suggests, minus
    ``default`` and minus deleted ones, with a warning that the list may be incomplete.
    """
    environ = os.environ if environ is None else environ
    base = parse_target(base_url) if base_url else None
    if base is None or base.kind != "http" or base.url is None:
        shown = base.display if base else "(none)"
        raise UsageError(
            f"namespaces need the server's data-plane URL as --url http(s)://HOST:PORT (got"
            f" {shown}); the WebSocket client cannot set the Host header that picks one"
        )
    require_tls(base, insecure=insecure)
    suggested = admin.namespaces_in_metrics()
    if names is None:
        chosen = sorted(admin.existing(suggested - EXCLUDED_BY_DEFAULT))
        log.warning(
            "sqld has no endpoint that lists namespaces: %d found through %s/metrics, which"
            " shows only namespaces created or used since sqld last started; list them in a"
            " file (--fleet NAMES_FILE) to be sure every one is included",
            len(chosen),
            admin.display,
        )
        if not chosen:
            raise UsageError(f"no namespaces found through {admin.display}/metrics")
        entries = [(n, f"{admin.display}/metrics", None) for n in chosen]
    else:
        found = admin.existing(n for n, _, _ in names)
        missing = [f"{n} ({origin})" for n, origin, _ in names if n not in found]
        if missing:
            raise UsageError("no such namespace on the server: " + ", ".join(missing))
        entries = list(names)
        forgotten = sorted(suggested - EXCLUDED_BY_DEFAULT - {n for n, _, _ in names})
        if forgotten:
            log.warning(
                "namespaces on the server but not in the names file (not migrated): %s",
                ", ".join(forgotten),
            )
    default_token = auth_token or base.token
    targets = []
    for name, origin, env_name in entries:
        check_namespace_name(name, origin)
        token = _token_from_env(origin, env_name, environ) if env_name else default_token
        targets.append(
            FleetTarget(
                f"namespace {name} at {base.display}",
                "http",
                base.url,
                token=token,
                host_header=namespace_host(base.url, name),
                namespace=name,
                origin=origin,
            )
        )
    return _no_duplicates(targets)


def _no_duplicates(targets: list[FleetTarget]) -> list[FleetTarget]:
    seen: dict[tuple[str, str, str | None], FleetTarget] = {}
    for target in targets:
        first = seen.setdefault(target.key(), target)
        if first is not target:
            raise UsageError(
                f"{target.display} is listed twice ({first.origin} and {target.origin})"
            )
    return targets
