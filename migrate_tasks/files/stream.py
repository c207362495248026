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

Re-parsing costs as much as the check, so ``scan_file`` also records where each statement
is (``StatementIndex``: its offsets in the file's text and its line, 24 bytes a
statement, for up to ``MAX_INDEXED_STATEMENTS`` statements; beyond that the file is
parsed again). ``iter_statements(..., index=info.index)`` then reads the file in the
same chunks, checks each chunk against the SHA-256 recorded for it before using any of
its bytes, and slices the statements out: same statements and lines, no parsing. A
chunk that differs (or a file that grew) fails with "file changed while it was being
applied", before any statement from the changed bytes is yielded.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from migrate_tasks.errors import MigrationFileError
from migrate_tasks.files.parser import DIRECTIONS, MigrationScanner, ScannedSection, Statement

#: Bytes read at a time: large enough that per-chunk costs vanish, small next to the file.
CHUNK_SIZE = 1024 * 1024
# Past this many characters of one statement, reads grow to a quarter of it: each read
# copies the statement kept so far, so fixed-size reads would make a huge statement
# quadratic. Growing keeps it linear for about 2.75 times the statement in memory.
_BIG_STATEMENT = 4 * 1024 * 1024
#: Up to this many statements in a file, ``scan_file`` keeps an index of them (24 bytes
#: each, so at most 24 MB) that spares the apply pass a second parse.
MAX_INDEXED_STATEMENTS = 1_000_000


@dataclass(frozen=True, eq=False)
class StatementIndex:
    """Where a checked file's statements are, so the apply pass does not parse it again."""

    #: The check pass's reads, in bytes, and the SHA-256 digest of each.
    sizes: array[int]
    digests: tuple[bytes, ...]
    #: Per direction: (start, end, line) of each statement, flattened; start and end are
    #: offsets in the file's text (without a BOM).
    spans: Mapping[str, array[int]]


@dataclass(frozen=True)
class SectionInfo:
    """A section without its statements: what the engine needs before streaming them."""

    direction: str
    #: Line of the header.
    line: int
    #: Options exactly as written on the header, e.g. ``{"transaction": "false"}``.
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    statement_count: int = 0
    #: The file's statement index (see ``iter_statements``); None if it has too many.
    index: StatementIndex | None = field(default=None, hash=False, compare=False, repr=False)

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


def scan_file(
    path: Path,
    display: str,
    *,
    chunk_size: int = CHUNK_SIZE,
    max_indexed: int = MAX_INDEXED_STATEMENTS,
) -> FileSummary:
    """Check a migration file like ``parse_migration`` does, reading it once in chunks.

    Raises the ``MigrationFileError`` that ``parse_migration(path.read_bytes(), display)``
    would raise. Memory: one chunk plus the largest statement, whatever the file size,
    plus the statement index (``SectionInfo.index``) of a file with at most
    ``max_indexed`` statements.
    """
    scanner = MigrationScanner(display, checksum=True, spans=max_indexed > 0)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # reading it fails below, with the usual error
    sizes: array[int] | None = array("q")
    digests: list[bytes] = []
    with contextlib.closing(_chunks(path, display, chunk_size, scanner)) as chunks:
        for chunk in chunks:
            scanner.feed(chunk)
            if sizes is not None:
                sizes.append(len(chunk))
                digests.append(hashlib.sha256(chunk).digest())
                recorded = sum(len(s.spans or ()) for s in scanner.sections.values()) // 3
                # Give up as soon as the file looks like having too many (statements so
                # far, scaled to its size): the index of a file that is parsed again
                # anyway would only add to the peak memory. A wrong guess costs speed.
                expected = recorded * max(size, scanner.size) // max(scanner.size, 1)
                if not scanner.spans or recorded > max_indexed or expected > max_indexed:
                    scanner.drop_spans()
                    sizes, digests = None, []
    scanner.finish()
    index = None
    if sizes is not None:
        spans = {d: s.spans for d, s in scanner.sections.items() if s.spans is not None}
        if all(len(spans.get(d, ())) == 3 * s.count for d, s in scanner.sections.items()):
            index = StatementIndex(sizes, tuple(digests), MappingProxyType(spans))
    down = scanner.sections.get("down")
    return FileSummary(
        checksum=scanner.checksum,
        up=_info(scanner.sections["up"], index),
        down=None if down is None else _info(down, index),
        size=scanner.size,
    )


def iter_statements(
    path: Path,
    display: str,
    direction: str,
    *,
    checksum: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    index: StatementIndex | None = None,
) -> Iterator[Statement]:
    """The statements of the file's ``direction`` section, read lazily in chunks.

    The whole file is read and checked as by ``scan_file``, so a file that turned bad
    since then raises its ``MigrationFileError`` instead of yielding what follows the
    damage. With ``checksum`` (``FileSummary.checksum``), any error, and a different
    checksum at the end, is reported as "file changed while it was being applied";
    statements already yielded have run by then, so the caller must roll back.
    No down section: nothing is yielded.

    With ``index`` (``SectionInfo.index`` from ``scan_file``), the file is not parsed
    again: it is read in the chunks of the check, each compared with its recorded
    digest before any of its bytes is used, and the recorded statements are sliced out.
    Any difference is reported as "file changed while it was being applied".
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    if index is not None:
        return _iter_indexed(path, display, direction, index)
    return _iter_statements(path, display, direction, checksum, chunk_size)


def _changed(display: str, why: str = "") -> MigrationFileError:
    return MigrationFileError(
        display,
        None,
        "file changed while it was being applied: "
        + (
            why
            or "its content is no longer the one checked before the run; leave migration"
            " files alone while they are applied, then run again"
        ),
    )


def _iter_indexed(
    path: Path, display: str, direction: str, index: StatementIndex
) -> Iterator[Statement]:
    spans = index.spans.get(direction) or array("q")
    count, i = len(spans), 0  # i: offset in spans of the next statement
    decoder = codecs.getincrementaldecoder("utf-8")()
    window, base = "", 0  # text not yet passed, and its offset in the file's text
    started = False
    sha256 = hashlib.sha256
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed below, also when not exhausted)
    except OSError as exc:
        raise _changed(display, f"cannot read the file: {exc.strerror or exc}") from exc
    with handle:
        reads = zip(index.sizes, index.digests, strict=True)
        final = False
        while not final:
            try:
                size, digest = next(reads)
            except StopIteration:
                final = True
            try:
                chunk = handle.read(1 if final else size)
            except OSError as exc:
                raise _changed(display, f"cannot read the file: {exc.strerror or exc}") from exc
            if final:
                if chunk:
                    raise _changed(display)
            elif len(chunk) != size or sha256(chunk).digest() != digest:
                raise _changed(display)
            try:  # cannot fail on the bytes checked, but be safe
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError:
                raise _changed(display) from None
            if not text:
                continue
            if not started:
                started = True
                if text[0] == "\ufeff":
                    text = text[1:]
            window = window + text if window else text
            end = base + len(window)
            found = []
            while i < count and spans[i + 1] <= end:
                found.append(Statement(window[spans[i] - base : spans[i + 1] - base], spans[i + 2]))
                i += 3
            keep = min((spans[i] if i < count else end) - base, len(window))
            if keep:
                window, base = window[keep:], base + keep
            yield from found
    if i < count:
        raise _changed(display)


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


def _info(section: ScannedSection, index: StatementIndex | None = None) -> SectionInfo:
    return SectionInfo(
        section.direction,
        section.line,
        MappingProxyType(dict(section.options)),
        section.count,
        index,
    )
