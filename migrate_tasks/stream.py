"""Huge migration files with bounded memory: check one in a streaming pass, then stream it.

``parse_migration`` holds a whole file several times over (bytes, text, statements):
about 1 GB for a 200 MB data migration. Here the same parser core
(``parser.MigrationScanner``) reads the file in chunks, so memory is one chunk plus the
largest statement, and statements, lines and errors are exactly those of
``parse_migration``.

The engine calls ``scan_file`` (every check, plus the checksum) before touching the
database, then ``iter_statements`` while applying. ``iter_statements`` reads the file
again, so give it ``checksum=summary.checksum``: a file edited in between then fails
with "file changed while it was being applied" (at the latest after its last
statement) instead of running something that was never checked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from migrate_tasks.errors import MigrationFileError
from migrate_tasks.parser import DIRECTIONS, MigrationScanner, ScannedSection, Statement
from migrate_tasks.source import STREAM_THRESHOLD_BYTES  # noqa: F401  (it used to live here)

#: Bytes read at a time: large enough that per-chunk costs vanish, small next to the file.
CHUNK_SIZE = 1024 * 1024
# Past this many characters of one statement, reads grow to a quarter of it: each read
# copies the statement kept so far, so fixed-size reads would make a huge statement
# quadratic. Growing keeps it linear for about 2.75 times the statement in memory.
_BIG_STATEMENT = 4 * 1024 * 1024


@dataclass(frozen=True)
class SectionInfo:
    """A section without its statements: what the engine needs before streaming them."""

    direction: str
    #: Line of the header.
    line: int
    #: Options exactly as written on the header, e.g. ``{"transaction": "false"}``.
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    statement_count: int = 0

    @property
    def transaction(self) -> bool:
        """Whether the section runs in one transaction (dbmate: unless ``transaction:false``)."""
        return self.options.get("transaction") != "false"


@dataclass(frozen=True)
class FileSummary:
    """What one streaming pass learns about a valid migration file."""

    #: ``source.checksum`` of the file's bytes.
    checksum: str
    up: SectionInfo
    down: SectionInfo | None
    #: Bytes read.
    size: int


def scan_file(path: Path, display: str, *, chunk_size: int = CHUNK_SIZE) -> FileSummary:
    """Check a migration file like ``parse_migration`` does, reading it once in chunks.

    Raises the ``MigrationFileError`` that ``parse_migration(path.read_bytes(), display)``
    would raise. Memory: one chunk plus the largest statement, whatever the file size.
    """
    scanner = MigrationScanner(display, checksum=True)
    with contextlib.closing(_chunks(path, display, chunk_size, scanner)) as chunks:
        for chunk in chunks:
            scanner.feed(chunk)
    scanner.finish()
    down = scanner.sections.get("down")
    return FileSummary(
        checksum=scanner.checksum,
        up=_info(scanner.sections["up"]),
        down=None if down is None else _info(down),
        size=scanner.size,
    )


def iter_statements(
    path: Path,
    display: str,
    direction: str,
    *,
    checksum: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Statement]:
    """The statements of the file's ``direction`` section, read lazily in chunks.

    The whole file is read and checked as by ``scan_file``, so a file that turned bad
    since then raises its ``MigrationFileError`` instead of yielding what follows the
    damage. With ``checksum`` (``FileSummary.checksum``), any error, and a different
    checksum at the end, is reported as "file changed while it was being applied";
    statements already yielded have run by then, so the caller must roll back.
    No down section: nothing is yielded.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    return _iter_statements(path, display, direction, checksum, chunk_size)


def _iter_statements(
    path: Path, display: str, direction: str, checksum: str | None, chunk_size: int
) -> Iterator[Statement]:
    scanner = MigrationScanner(display, collect=(direction,), checksum=checksum is not None)
    try:
        with contextlib.closing(_chunks(path, display, chunk_size, scanner)) as chunks:
            for chunk in chunks:
                scanner.feed(chunk)
                yield from _take(scanner, direction)
        scanner.finish()
    except MigrationFileError as error:
        if checksum is None:
            raise
        raise MigrationFileError(
            display, error.line, f"file changed while it was being applied: {error.reason}"
        ) from None
    if checksum is not None and scanner.checksum != checksum:
        raise MigrationFileError(
            display,
            None,
            "file changed while it was being applied: its content is no longer the one"
            " checked before the run; leave migration files alone while they are applied,"
            " then run again",
        )
    yield from _take(scanner, direction)


def _take(scanner: MigrationScanner, direction: str) -> list[Statement]:
    """Statements collected since the last call, so the scanner does not keep them."""
    section = scanner.sections.get(direction)
    if section is None or not section.statements:
        return []
    taken, section.statements = section.statements, []
    return taken


def _chunks(
    path: Path, display: str, chunk_size: int, scanner: MigrationScanner
) -> Iterator[bytes]:
    """The file's bytes in chunks, larger while ``scanner`` keeps a huge statement."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    try:
        with open(path, "rb") as handle:
            while True:
                backlog = scanner.backlog
                size = max(chunk_size, backlog // 4) if backlog > _BIG_STATEMENT else chunk_size
                chunk = handle.read(size)
                if not chunk:
                    return
                yield chunk
    except OSError as exc:
        raise MigrationFileError(
            display, None, f"cannot read the file: {exc.strerror or exc}"
        ) from exc


def _info(section: ScannedSection) -> SectionInfo:
    return SectionInfo(
        section.direction, section.line, MappingProxyType(dict(section.options)), section.count
    )
