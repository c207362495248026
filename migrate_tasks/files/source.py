r"""Migration files on disk: finding them, naming new ones, and fingerprinting their content.

A migration is ``VERSION_name.sql`` in one flat folder, as with dbmate. VERSION is
digits (``create_migration`` uses the UTC time, ``YYYYMMDDHHMMSS``) and orders the
files numerically, so ``9_x.sql`` runs before ``10_y.sql``.

Decisions worth knowing:

* Every name dbmate accepts is accepted (its pattern is ``^(\d+).*\.sql$``): the
  version is the leading ASCII digits, the rest is free text (``_AddComments``,
  ``_create-users-table``, even nothing), kept as written; one ``_`` after the version
  is the separator, not part of the name. Only characters that cannot be shown on
  one line or stored as text are refused: control characters, a backslash (a path
  separator on Windows) and bytes that are not UTF-8. ``create_migration`` still
  writes lower-case names.
* dbmate orders files by *name* (``9_x.sql`` after ``10_y.sql``); we order by number.
  The two agree whenever versions have the same length (``create`` and ``dbmate new``
  both write 14 digits).
* Two files whose versions are the same *number* (``001_a.sql`` and ``1_b.sql``) are
  refused like exact duplicates: their order would be a coin toss.
* Any file ending in ``.sql`` (in any case) must be a migration with a valid name; a
  stray ``Create_Users.SQL`` is an error rather than a migration silently skipped.
  Hidden files (``.#x.sql`` editor locks, ``._x.sql`` macOS forks), other extensions
  and sub-folders are ignored.
* A migration may also be written in Python, ``VERSION_name.py``
  (``files.python_source``); only ``.py`` files whose name starts with digits are
  migrations (``env.py``, ``__init__.py`` and helper modules are ignored).
* ``checksum`` is ``"sha256:<hex>"`` of the content with CRLF turned into LF, so a
  Windows/``autocrlf`` checkout does not look modified; the prefix lets us change the
  algorithm later without ambiguity.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from migrate_tasks.errors import MigrationFileError, UsageError
from migrate_tasks.progname import command

#: dbmate's own pattern (``^(\d+).*\.sql$``); ``_name_problem`` refuses what cannot be shown.
FILENAME_PATTERN = re.compile(r"^(\d+)_?(.*)\.sql$", re.ASCII | re.DOTALL)
#: A migration written in Python (``files.python_source``): its name starts with digits.
#: Other ``.py`` files (``__init__.py``, helpers) are not migrations.
PYTHON_PATTERN = re.compile(r"^(\d+)_?(.*)\.py$", re.ASCII | re.DOTALL)
NAME_PATTERN = re.compile(r"[a-z0-9_]+", re.ASCII)
#: Files larger than this are streamed (``migrate_tasks.files.stream``), never held whole.
#: Holding a parsed file costs about 10 times its size (20 over HTTP, with the request
#: and reply as JSON), so anything past a typical schema migration streams: memory
#: stays flat, at the price of a request per few thousand statements.
STREAM_THRESHOLD_BYTES = 1024 * 1024
#: Longest NAME: with a 14-digit version the file name stays well under 255 bytes.
MAX_NAME_LENGTH = 200
#: Control characters (Unicode Cc), line and paragraph separators, a backslash (a path
#: separator on Windows) and surrogate escapes (file-name bytes that are not UTF-8).
_UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\\\u2028\u2029\ud800-\udfff]")
_VERSION_PREFIX = re.compile(r"(\d+)", re.ASCII)

#: The up section is left empty, not commented: a section of comments only is a
#: deliberate no-op (dbmate runs it as one), so a file never written must stay an error.
TEMPLATE = """\
-- Write the SQL that applies this migration under '-- migrate:up' and the SQL that
-- reverts it under '-- migrate:down'; end each statement with ';'.
-- migrate:up


-- migrate:down

"""


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


@dataclass(frozen=True)
class MigrationFile:
    """One migration file found on disk (nothing read yet)."""

    version: str
    name: str
    path: Path

    @property
    def python(self) -> bool:
        """A migration written in Python (``VERSION_name.py``)."""
        return self.path.suffix == ".py"

    @property
    def display(self) -> str:
        # display_path resolves symlinks: once per folder, not per file (600 resolves
        # were a fifth of a 200-migration run's own work)
        folder = _display_folder(str(self.path.parent), os.getcwd())
        return self.path.name if folder == "." else os.path.join(folder, self.path.name)

    def read(self) -> bytes:
        """The raw bytes, for ``parse_migration`` and ``checksum``."""
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise self._unreadable(exc) from exc

    def read_small(self, limit: int) -> bytes | None:
        """The raw bytes if the file has at most ``limit`` of them, else None (one open,
        one fstat, one read: status reads every file)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                if size > limit:
                    return None
                data = os.read(fd, size)
                if len(data) < size or not size:  # shorter than said, or a special file
                    chunks = [data]
                    while chunk := os.read(fd, 65536):
                        chunks.append(chunk)
                    data = b"".join(chunks)
                return data
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._unreadable(exc) from exc

    def checksum(self) -> str:
        """``checksum`` of the file's content, read in pieces (for a file too big to hold)."""
        digest = hashlib.sha256()
        carry = b""
        try:
            with self.path.open("rb") as handle:
                while chunk := handle.read(1024 * 1024):
                    chunk = carry + chunk
                    carry = b"\r" if chunk.endswith(b"\r") else b""  # CRLF across pieces
                    digest.update(chunk[: len(chunk) - len(carry)].replace(b"\r\n", b"\n"))
        except OSError as exc:
            raise self._unreadable(exc) from exc
        digest.update(carry)
        return "sha256:" + digest.hexdigest()

    def _unreadable(self, exc: OSError) -> MigrationFileError:
        return MigrationFileError(
            self.display, None, f"cannot read the file: {exc.strerror or exc}"
        )


@functools.lru_cache(maxsize=16)
def _display_folder(folder: str, cwd: str) -> str:
    return display_path(Path(folder))


def version_of(text: str) -> str:
    """The version a user named: ``20240101120000``, or a file name such as
    ``20240101120000_users.sql`` (``--to``, ``repair``, ``baseline`` accept either)."""
    head = str(text).strip().split("_", 1)[0]
    if not head.isdigit():
        raise UsageError(
            f"{text!r} is not a migration version (expected digits, e.g. 20240101120000)"
        )
    return head


def checksum(data: bytes) -> str:
    """Fingerprint of a migration's content that survives CRLF/LF conversion."""
    return "sha256:" + hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def discover(directory: Path) -> list[MigrationFile]:
    """All migrations in ``directory``, sorted by numeric version, then name.

    Raises the first problem ``scan`` finds (a bad name, a duplicate version).
    """
    files, problems = scan(directory)
    if problems:
        raise problems[0]
    return files


def scan(directory: Path) -> tuple[list[MigrationFile], list[MigrationFileError]]:
    """Every usable migration file, and every problem with the others (for ``validate``).

    A version used twice keeps neither file in the list: which one is meant is unknown.
    """
    found, problems = listing(directory)
    duplicated: set[int] = set()
    for before, after in itertools.pairwise(found):
        if int(before.version) == int(after.version):
            duplicated.add(int(after.version))
            problems.append(
                MigrationFileError(
                    after.display,
                    None,
                    f"two migrations have version {after.version}: {before.path.name} and"
                    f" {after.path.name}; give one of them a new version (rename it, e.g. to"
                    " the current UTC time YYYYMMDDHHMMSS)",
                )
            )
    return [f for f in found if int(f.version) not in duplicated], problems


def listing(directory: Path) -> tuple[list[MigrationFile], list[MigrationFileError]]:
    """Every file with a migration's name, sorted, two with one version included (the
    integrity file and ``rebase`` see the folder as it is); and the bad names."""
    directory = Path(directory)
    if not directory.exists():
        raise UsageError(
            f"migrations folder {display_path(directory)} does not exist; create the first"
            f" migration with `{command('create NAME')}` (it creates the folder), or point"
            " --dir at it"
        )
    if not directory.is_dir():
        raise UsageError(f"migrations folder {display_path(directory)} is not a folder")
    try:
        with os.scandir(directory) as listing:  # no stat per entry, unlike Path.is_file
            entries = sorted(
                (e.name, e)
                for e in listing
                if not e.name.startswith(".")
                and (e.name.lower().endswith(".sql") or PYTHON_PATTERN.match(e.name))
            )
    except OSError as exc:
        raise UsageError(
            f"cannot list migrations folder {display_path(directory)}: {exc.strerror or exc}"
        ) from exc
    found: list[MigrationFile] = []
    problems: list[MigrationFileError] = []
    for name, entry in entries:
        try:
            if not entry.is_file():
                continue
        except OSError:
            continue
        match = match_name(name)
        problem = _name_problem(name, match)
        if problem is not None or match is None:
            problems.append(MigrationFileError(_shown(directory, name), None, problem or ""))
            continue
        found.append(MigrationFile(match.group(1), match.group(2), directory / name))
    found.sort(key=lambda f: (int(f.version), f.name))
    return found, problems


def match_name(name: str) -> re.Match[str] | None:
    """A migration file name (``.sql``, or ``.py`` for one written in Python) split
    into version and name, or None."""
    return (PYTHON_PATTERN if name.endswith(".py") else FILENAME_PATTERN).fullmatch(name)


def _name_problem(name: str, match: re.Match[str] | None) -> str | None:
    """Why a ``.sql`` file name is not a migration's, or None."""
    if match is None:
        return (
            "bad migration file name: expected VERSION_name.sql, e.g."
            " 20240101120000_create_users.sql (VERSION: digits at the start; the name ends"
            " in .sql, lower case)"
        )
    bad = _UNSHOWABLE.search(name)
    if bad is None:
        return None
    what = "bytes that are not UTF-8" if bad.group() >= "\ud800" else repr(bad.group())
    return (
        f"bad migration file name: it contains {what}; rename the file (a migration's"
        " name is shown in messages and stored in the tracking table)"
    )


def _shown(directory: Path, name: str) -> str:
    """The path for a message; a name that would break the line is shown escaped."""
    if _UNSHOWABLE.search(name) is None:
        return display_path(directory / name)
    return os.path.join(display_path(directory), repr(name)[1:-1])


def create_migration(
    directory: Path, name: str, now: datetime | None = None, *, python: bool = False
) -> Path:
    """Write a new migration from TEMPLATE and return its path; never overwrites.
    ``python``: a ``.py`` migration from ``python_source.TEMPLATE`` instead.

    The version is ``now`` in UTC (a naive ``now`` is taken as UTC already). If a file
    in the folder already uses that version, the next free second is taken, so two
    migrations created in the same second still get an order.
    """
    _check_name(name)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"migrations folder {display_path(directory)} is not a folder")
    directory.mkdir(parents=True, exist_ok=True)
    root = directory.resolve()
    when = _utc(now)
    taken = _taken_versions(directory)
    while True:
        version = utc_version(when)
        when += timedelta(seconds=1)
        if int(version) in taken:
            continue
        path = directory / f"{version}_{name}.{'py' if python else 'sql'}"
        if path.resolve().parent != root:  # belt and braces: NAME is already checked
            raise UsageError(f"refusing to write {path} outside {directory}")
        try:
            with path.open("x", encoding="utf-8", newline="\n") as handle:
                handle.write(_template(python))
        except FileExistsError:  # created meanwhile by someone else
            taken.add(int(version))
            continue
        return path


def _template(python: bool) -> str:
    if not python:
        return TEMPLATE
    from migrate_tasks.files.python_source import TEMPLATE as PYTHON_TEMPLATE

    return PYTHON_TEMPLATE


def _check_name(name: str) -> None:
    if not name:
        raise UsageError("migration name is empty; give one such as create_users")
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"invalid migration name {name!r}: use only lower-case letters, digits and"
            " underscores (e.g. add_email_to_users); it becomes part of the file name"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise UsageError(
            f"migration name is {len(name)} characters long; keep it under {MAX_NAME_LENGTH + 1}"
        )


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        return now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc)


def utc_version(when: datetime) -> str:
    """``YYYYMMDDHHMMSS`` of an aware or UTC ``when``: the version ``create`` writes."""
    # Not strftime: %Y is not zero-padded for years < 1000 on every platform.
    return (
        f"{when.year:04d}{when.month:02d}{when.day:02d}"
        f"{when.hour:02d}{when.minute:02d}{when.second:02d}"
    )


def _taken_versions(directory: Path) -> set[int]:
    """Versions used by anything in the folder, migration or not, so we never clash."""
    taken = set()
    for entry in directory.iterdir():
        match = _VERSION_PREFIX.match(entry.name)
        if match:
            taken.add(int(match.group(1)))
    return taken
