"""The migrations folder's integrity file, ``migrate.sum``: a hash per file, one for them all.

Why: two branches that each add a migration both rewrite the file's first line, so git
stops the merge with a conflict there instead of merging the two migrations silently in
an order nobody chose (``rebase`` then gives the branch's migrations later versions).
And a migration edited, added or removed without saying so shows in ``validate``, which
``up`` obeys, before any database is involved.

Opt-in: nothing is checked until ``hash`` writes the file; from then on ``create``,
``generate``, ``import-alembic`` and ``rebase`` keep it current. The file sits in the
migrations folder: dbmate, like us, reads only ``*.sql`` files there (tested).

Format, UTF-8 text with LF line endings (a CRLF checkout reads the same)::

    sha256:<hex>                                   the folder: sha256 of the lines below
    20250101090000_create_users.sql sha256:<hex>   each migration, in version order

A migration's hash is its ``checksum``, the one the tracking table keeps (CRLF read as
LF). The folder hash is the sha256 of every line after the first, each ending in LF,
so ``tail -n +2 migrations/migrate.sum | sha256sum`` reproduces it. Every file with a
migration's name is listed, two with one version included (``validate`` reports those).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.errors import LocatedError, UsageError
from migrate_tasks.files.source import (
    FILENAME_PATTERN,
    TEMPLATE,
    MigrationFile,
    checksum,
    display_path,
    listing,
)
from migrate_tasks.progname import command

SUM_FILENAME = "migrate.sum"
#: ``validate``'s problem kind for what this module finds.
INTEGRITY = "integrity"
_HASH = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_CONFLICT_MARKERS = ("<<<<<<<", "=======", ">>>>>>>", "|||||||")
#: What ``create`` writes: a file still listed with it is one being written.
_TEMPLATE_SUM = checksum(TEMPLATE.encode("utf-8"))


@dataclass(frozen=True)
class SumFile:
    """The integrity file as read: file name -> checksum, and the folder hash it states."""

    path: Path
    entries: dict[str, str]
    folder_hash: str

    @property
    def display(self) -> str:
        return display_path(self.path)


@dataclass(frozen=True)
class Finding:
    """One way the folder and its integrity file disagree (``version``: the file's, if any)."""

    version: str | None
    message: str


def sum_path(directory: Path) -> Path:
    return Path(directory) / SUM_FILENAME


def _file(path: Path) -> MigrationFile:
    match = FILENAME_PATTERN.fullmatch(path.name)
    assert match is not None  # entries are checked when read or listed
    return MigrationFile(match.group(1), match.group(2), path)


def _order(name: str) -> tuple[int, str]:
    file = _file(Path(name))
    return (int(file.version), file.name)


def folder_hash(entries: Mapping[str, str]) -> str:
    """The first line: sha256 of every other line, in version order, LF-terminated."""
    return "sha256:" + hashlib.sha256(_body(entries).encode("utf-8")).hexdigest()


def _body(entries: Mapping[str, str]) -> str:
    return "".join(f"{name} {entries[name]}\n" for name in sorted(entries, key=_order))


def render(entries: Mapping[str, str]) -> str:
    """The whole file for these entries."""
    return f"{folder_hash(entries)}\n{_body(entries)}"


def read_sum(path: Path) -> SumFile:
    """The file at ``path``, parsed; a merge conflict or a malformed line is a
    ``LocatedError`` (exit 2) naming the line and the fix."""
    shown = display_path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise LocatedError(shown, None, f"cannot read it: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise LocatedError(shown, None, f"not UTF-8 text; {_rewrite()}") from exc
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    for number, line in enumerate(lines, 1):
        if line.startswith(_CONFLICT_MARKERS):  # before the format: the way out first
            raise LocatedError(shown, number, conflict_advice())
    if not _HASH.fullmatch(lines[0]):
        raise LocatedError(shown, 1, f"expected the folder's hash, sha256:HEX; {_rewrite()}")
    entries: dict[str, str] = {}
    for number, line in enumerate(lines[1:], 2):
        if not line:
            continue
        name, _, digest = line.rpartition(" ")
        if not (FILENAME_PATTERN.fullmatch(name) and _HASH.fullmatch(digest)):
            raise LocatedError(
                shown, number, f"expected FILE sha256:HEX (a migration and its hash); {_rewrite()}"
            )
        if name in entries:
            raise LocatedError(shown, number, f"{name} is listed twice; {_rewrite()}")
        entries[name] = digest
    return SumFile(path, entries, lines[0])


def has_conflict(data: bytes) -> bool:
    """Whether the file's bytes hold git's merge conflict markers."""
    return any(
        line.startswith(_CONFLICT_MARKERS) for line in data.decode("utf-8", "replace").splitlines()
    )


def conflict_advice() -> str:
    """What a merge conflict in the integrity file means, and the way out."""
    return (
        "merge conflict: both branches added (or changed) migrations. Run"
        f" `{command('rebase --onto BRANCH')}` naming the branch you merged (e.g. main): it"
        " gives this branch's new migrations versions after that branch's newest and"
        " rewrites this file; then commit"
    )


def _rewrite() -> str:
    return f"rewrite it from the folder with `{command('hash')}`"


def current_entries(directory: Path) -> dict[str, str]:
    """Every file with a migration's name in ``directory`` and its checksum, as now."""
    files, _bad_names = listing(directory)  # bad names: validate's and up's to report
    return {f.path.name: f.checksum() for f in files}


def findings(directory: Path) -> list[Finding]:
    """How the folder differs from its integrity file; none without one (opt-in)."""
    path = sum_path(directory)
    if not path.is_file():
        return []
    try:
        recorded = read_sum(path)
    except LocatedError as exc:
        return [Finding(None, str(exc))]
    actual = current_entries(directory)
    found = _file_findings(Path(directory), recorded, actual)
    if not found and folder_hash(recorded.entries) != recorded.folder_hash:
        found.append(
            Finding(
                None,
                f"{recorded.display}:1: the folder hash does not match the lines below it"
                f" (edited by hand?); {_rewrite()}",
            )
        )
    return found


def _file_findings(directory: Path, recorded: SumFile, actual: Mapping[str, str]) -> list[Finding]:
    """Per file: edited, added, renamed (same content, new name) or removed."""
    gone = {n: h for n, h in recorded.entries.items() if n not in actual}
    renamed_from = {h: n for n, h in gone.items()}
    found: list[tuple[tuple[int, str], Finding]] = []
    where = recorded.display
    for name, digest in actual.items():
        if recorded.entries.get(name) == digest:
            continue
        shown = display_path(directory / name)
        if recorded.entries.get(name) == _TEMPLATE_SUM:
            text = (
                f"{shown} was written since `create` added it to {where}; run"
                f" `{command('hash')}` to record it"
            )
        elif name in recorded.entries:
            text = (
                f"{shown} changed since {where} was written; if you changed it on purpose,"
                f" run `{command('hash')}`, otherwise restore it"
            )
        elif digest in renamed_from:
            old = renamed_from.pop(digest)
            gone.pop(old)
            text = (
                f"{shown} is {old} renamed, and {where} still lists the old name; run"
                f" `{command('hash')}` if the rename is deliberate"
            )
        else:
            text = (
                f"{shown} is not in {where}; run `{command('hash')}` to add it (`create`,"
                " `generate` and `import-alembic` add the files they write themselves)"
            )
        found.append((_order(name), Finding(_file(Path(name)).version, text)))
    for name in gone:
        text = (
            f"{display_path(directory / name)} is listed in {where} but the file is gone;"
            f" restore it, or run `{command('hash')}` if removing it was deliberate"
        )
        found.append((_order(name), Finding(_file(Path(name)).version, text)))
    return [finding for _key, finding in sorted(found, key=lambda pair: pair[0])]


def write_sum(directory: Path, entries: Mapping[str, str] | None = None) -> Path:
    """(Re)write the integrity file: ``entries``, or every migration as it is now."""
    path = sum_path(directory)
    text = render(current_entries(directory) if entries is None else entries)
    # a hidden temporary name (no listing reads it), then one rename: never half a file
    fd, temporary = tempfile.mkstemp(prefix=f".{SUM_FILENAME}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def open_for_update(directory: Path) -> SumFile | None:
    """The integrity file before a task adds migrations, or None when there is none.

    Read BEFORE anything is written, so a conflicted or malformed file stops the task
    (exit 2) with nothing written."""
    path = sum_path(directory)
    return read_sum(path) if path.is_file() else None


def add_files(current: SumFile | None, paths: Iterable[Path]) -> Path | None:
    """Add the files a task just wrote to the integrity file read by ``open_for_update``.

    Only those lines change: an edit made elsewhere without ``hash`` stays reported.
    """
    if current is None:
        return None
    entries = dict(current.entries)
    entries.update({path.name: _file(path).checksum() for path in paths})
    return write_sum(current.path.parent, entries)


@contextlib.contextmanager
def keeping_sum_current(directory: Path) -> Iterator[list[Path]]:
    """For code that writes migrations: it appends each file it writes to the list it
    gets, and the integrity file (if the folder has one) gains exactly those lines.

    The integrity file is read first, so a conflicted one stops the writer (UsageError,
    exit 2) before anything is written."""
    try:
        current = open_for_update(directory) if directory.is_dir() else None
    except LocatedError as exc:
        raise UsageError(f"{exc}; nothing was written") from exc
    written: list[Path] = []
    try:
        yield written
    finally:  # files written before a failure are on disk: listed, they are accounted for
        if written:
            add_files(current, written)
