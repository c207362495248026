"""Migration files as the lint reads them: sections, options and statements.

Small files are parsed whole (``files/parser.py``); a file over the streaming threshold
is checked in one streaming pass and its statements read lazily (``files/stream.py``),
as the engine does, so a 200 MB data migration is never held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from migrate_tasks.files.parser import Statement, parse_migration
from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES, MigrationFile


@dataclass(frozen=True)
class SectionView:
    direction: str
    line: int
    options: Mapping[str, str]
    count: int
    read: Callable[[], Iterator[Statement]]

    @property
    def transaction(self) -> bool:
        return self.options.get("transaction") != "false"

    def statements(self) -> Iterator[Statement]:
        return self.read()


@dataclass(frozen=True)
class Source:
    """One migration file, parsed (malformed files raise ``MigrationFileError``, exit 2)."""

    file: MigrationFile
    up: SectionView
    down: SectionView | None

    @property
    def version(self) -> str:
        return self.file.version

    @property
    def display(self) -> str:
        return self.file.display


def load_source(file: MigrationFile) -> Source:
    """Parse ``file`` (streaming it when it is big)."""
    data = file.read_small(STREAM_THRESHOLD_BYTES)
    if data is not None:
        parsed = parse_migration(data, file.display)

        def view(section):  # type: ignore[no-untyped-def]
            if section is None:
                return None
            statements = section.statements
            return SectionView(
                section.direction, section.line, section.options, len(statements),
                lambda: iter(statements),
            )  # fmt: skip

        return Source(file, view(parsed.up), view(parsed.down))
    from migrate_tasks.files.stream import iter_statements, scan_file

    summary = scan_file(file.path, file.display)

    def streamed(info):  # type: ignore[no-untyped-def]
        if info is None:
            return None
        return SectionView(
            info.direction, info.line, info.options, info.statement_count,
            lambda: iter_statements(
                file.path, file.display, info.direction, checksum=summary.checksum,
                index=info.index,
            ),
        )  # fmt: skip

    return Source(file, streamed(summary.up), streamed(summary.down))
