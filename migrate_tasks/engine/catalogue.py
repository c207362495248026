"""The migrations folder as the engine sees it: names, bytes, checksums and parses,
read once per run and without any database (``MigrationSet``).

A file is read when first needed and kept; one over ``STREAM_THRESHOLD_BYTES`` is never
held: it is hashed, or checked in one streaming pass, and its statements are read again
lazily when it runs (``Unit.statements``). ``status`` hashes files without parsing
them, and a file applied with the checksum it has now is not parsed again.

A fleet shares one set between its worker threads: each file is then read, hashed and
parsed once for the whole fleet (not once per database), and every database runs the
very bytes that were checked. The caches are filled under a lock, so two threads never
read one file twice (and so never see two versions of it). Forked worker processes
start with a copy of what was read before the fork.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from migrate_tasks.engine.plan import FileInfo, no_op_warning
from migrate_tasks.engine.units import Unit
from migrate_tasks.errors import MigrationFileError
from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES, MigrationFile, checksum, scan

# The parser is imported where it is used: status and a no-op up never need it.
if TYPE_CHECKING:
    from migrate_tasks.files.parser import ParsedMigration, Section
    from migrate_tasks.files.stream import FileSummary, SectionInfo


class MigrationSet:
    """The migration files of one folder, each read, hashed and parsed at most once."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._scanned: tuple[dict[str, MigrationFile], list[MigrationFileError]] | None = None
        self._data: dict[str, bytes] = {}
        self._bigs: set[str] = set()
        self._summaries: dict[str, FileSummary] = {}
        self._parsed: dict[str, ParsedMigration] = {}
        self._checksums: dict[str, str] = {}
        self._units: dict[tuple[str, str], Unit] = {}
        # re-entrant: unit() asks parsed(), which asks data(); uncontended outside fleets
        self._lock = threading.RLock()

    # -- names ----------------------------------------------------------------------------

    def scan(self) -> tuple[dict[str, MigrationFile], list[MigrationFileError]]:
        """Usable files by version, and every naming problem (bad name, duplicate)."""
        if self._scanned is None:
            with self._lock:
                if self._scanned is None:
                    files, problems = scan(self.directory)
                    self._scanned = ({f.version: f for f in files}, problems)
        return self._scanned

    def files(self) -> dict[str, MigrationFile]:
        """Usable files; raises the first naming problem (status and up cannot guess)."""
        files, problems = self.scan()
        if problems:
            raise problems[0]
        return files

    def file(self, version: str) -> MigrationFile:
        return self.scan()[0][version]

    # -- contents -------------------------------------------------------------------------

    def data(self, version: str) -> bytes:
        if version not in self._data:
            with self._lock:
                if version not in self._data:
                    self._data[version] = self.file(version).read()
        return self._data[version]

    def big(self, version: str) -> bool:
        """Over the streaming threshold; a small file is read (and kept) on the way."""
        if version in self._data:
            return False
        if version not in self._bigs:
            with self._lock:
                if version in self._data or version in self._bigs:
                    return version in self._bigs
                try:
                    data = self.file(version).read_small(STREAM_THRESHOLD_BYTES)
                except MigrationFileError:
                    return False  # reading it again will report the problem
                if data is None:
                    self._bigs.add(version)
                else:
                    self._data[version] = data
        return version in self._bigs

    def summary(self, version: str) -> FileSummary:
        """One streaming pass over a big file: every parser check, and its checksum."""
        if version not in self._summaries:
            from migrate_tasks.files.stream import scan_file

            with self._lock:
                if version not in self._summaries:
                    file = self.file(version)
                    self._summaries[version] = scan_file(file.path, file.display)
        return self._summaries[version]

    def parsed(self, version: str) -> ParsedMigration:
        """A small file, parsed once per run (``up`` checks every file before and again
        under the lock, then prepares the planned ones)."""
        if version not in self._parsed:
            from migrate_tasks.files.parser import parse_migration

            with self._lock:
                if version not in self._parsed:
                    data, display = self.data(version), self.file(version).display
                    self._parsed[version] = parse_migration(data, display)
        return self._parsed[version]

    def checksum(self, version: str) -> str:
        if version not in self._checksums:
            with self._lock:
                if not self.big(version):
                    self._checksums[version] = checksum(self.data(version))
                elif version in self._summaries:
                    self._checksums[version] = self._summaries[version].checksum
                elif version not in self._checksums:
                    # hashing a big file is enough: parsing it waits until it must run
                    self._checksums[version] = self.file(version).checksum()
        return self._checksums[version]

    # -- what callers ask -----------------------------------------------------------------

    def file_infos(self, files: Iterable[MigrationFile] | None = None) -> list[FileInfo]:
        """Version, name and current checksum of ``files`` (default: every usable file)."""
        chosen = self.files().values() if files is None else files
        return [FileInfo(f.version, f.name, self.checksum(f.version)) for f in chosen]

    def file_errors(self, skip: Iterable[str] = ()) -> list[MigrationFileError]:
        """Every bad name, duplicate version and unparseable file.
        ``skip``: versions not to parse (applied, with the checksum recorded then)."""
        files, errors = self.scan()
        errors = list(errors)
        skipped = set(skip)
        for file in files.values():
            if file.version in skipped:
                continue
            try:
                if self.big(file.version):
                    self.summary(file.version)
                else:
                    self.parsed(file.version)
            except MigrationFileError as exc:
                errors.append(exc)
        return errors

    def no_op_warnings(self, versions: Iterable[str]) -> list[str]:
        """For files already parsed: those whose up section has only comments."""
        found = []
        for version in versions:
            parsed, summary = self._parsed.get(version), self._summaries.get(version)
            count = (
                len(parsed.up.statements) if parsed
                else summary.up.statement_count if summary and summary.up
                else None
            )  # fmt: skip
            if count == 0:
                file = self.file(version)
                found.append(no_op_warning(f"{version}_{file.name}", file.display))
        return found

    def unit(self, version: str, direction: str) -> Unit:
        """The file's section in ``direction``, ready to run; raises for a down section
        that is missing or says nothing (rollback would lie)."""
        known = self._units.get((version, direction))
        if known is not None:
            return known
        file = self.files()[version]
        if self.big(version):
            info = self.summary(version).up if direction == "up" else self.summary(version).down
            _require_statements(file, info, info.statement_count if info else 0)
            unit = Unit(
                version, file.name, file.display, self.summary(version).checksum, direction,
                None, info, file.path,
            )  # fmt: skip
        else:
            parsed = self.parsed(version)
            section = parsed.up if direction == "up" else parsed.down
            _require_statements(file, section, len(section.statements) if section else 0)
            unit = Unit(
                version, file.name, file.display, self.checksum(version), direction, section
            )
        self._units[version, direction] = unit
        return unit


def _require_statements(
    file: MigrationFile, section: Section | SectionInfo | None, count: int
) -> None:
    """A down section must exist and say something, or rollback would lie."""
    if section is not None and (section.direction == "up" or count):
        return
    raise MigrationFileError(
        file.display,
        section.line if section else None,
        "no down statements, so this migration cannot be rolled back; write "
        "them under '-- migrate:down' (use 'SELECT 1;' for a deliberate no-op)",
    )
