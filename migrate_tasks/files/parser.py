"""Turn a migration file's bytes into its up/down sections and their statements.

Pure: no database and no I/O, so every rule here is tested on plain strings.

File format (dbmate's)::

    -- migrate:up
    CREATE TABLE users (id INTEGER PRIMARY KEY);
    -- migrate:down transaction:false
    DROP TABLE users;

Decisions worth knowing:

* ``Statement.sql`` is the statement as written, from its first real token to its last
  one: leading and trailing whitespace and comments are removed, comments inside are
  kept, and the terminating ``;`` is **not** included. ``sql`` executes as-is, and
  ``sql + ";"`` is always a complete statement (handy for dry-run scripts).
  ``sql`` holds the file's characters exactly, CRLF line endings included: only the
  checksum (``source.checksum``) ignores line endings, never the SQL sent. Lines end at
  LF, as for SQLite's ``--`` comments, so a CRLF file has the same line numbers as its
  LF twin.
* Statement boundaries (``files.splitter``) come from SQLite itself: a ``;`` ends a statement exactly when
  ``sqlite3.complete_statement`` says the text up to it is complete (this is what keeps
  ``CREATE TRIGGER ... BEGIN ...; ...; END;`` in one piece). A small scanner that lexes
  quotes and comments exactly like SQLite's ``sqlite3_complete`` only decides which
  ``;`` are worth asking about, so work stays linear in the size of the file.
* Section headers are lines starting (in the first column) with ``-- migrate:``, found
  line by line like dbmate does, even inside a block comment, a multi-line string or a
  trigger body. Such a header cuts the text before it short, which then fails as an
  unterminated statement/comment with a note explaining why; so no file is ever split
  differently from dbmate without an error. Near-misses that dbmate would silently treat
  as comments are refused instead: ``-- migrate:sideways``, ``-- Migrate:Up``, unknown
  or misspelt options, and a ``-- migrate:`` comment that is indented or follows code
  on its line. Indented ``-- migrate:`` text *inside* a block comment is just text.
* An up section of comments only is a deliberate no-op, as in dbmate (real dbmate
  folders have them; the engine warns before applying one). An up section with no text
  at all is an error: it is what a file never written looks like.
* Helpers with one job each: ``files.file_bytes`` checks, hashes and decodes the bytes
  (UTF-8 text only), ``files.section_options`` reads header options (one table of what
  each accepts) and ``files.transaction_control`` checks every statement (``BEGIN``,
  ``COMMIT`` and friends are refused; savepoints only inside a transaction).
* There is one parser, ``MigrationScanner``, fed the file's bytes in pieces of any size:
  ``parse_migration`` feeds the whole file at once, ``migrate_tasks.files.stream`` feeds a
  huge file chunk by chunk with memory for one chunk and one statement. Where the pieces
  are cut never changes a statement, a line number or an error.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from migrate_tasks.errors import MigrationFileError
from migrate_tasks.files.file_bytes import FileBytes
from migrate_tasks.files.section_options import KNOWN_OPTIONS, parse_options
from migrate_tasks.files.splitter import CODE, Splitter, Statement
from migrate_tasks.files.transaction_control import transaction_control_error

DIRECTIONS = ("up", "down")

#: ``-- migrate:nolint RULE`` (lower case, as written) is a lint suppression, not a header:
#: a comment to SQLite and dbmate, read by ``migrate_tasks.lint``; never sent differently.
_NOLINT = r"(?!(?-i:nolint)(?:[ \t\r]|$))"
_HEADER = re.compile(rf"^--[ \t]*(migrate):{_NOLINT}(\S*)(.*)$", re.MULTILINE | re.IGNORECASE)
# An unfinished last line that more text could still turn into a _HEADER.
_HEADER_PREFIX = re.compile(
    r"-(?:-[ \t]*(?:m(?:i(?:g(?:r(?:a(?:t(?:e)?)?)?)?)?)?)?)?", re.IGNORECASE
)

_LONE_CR = (
    "lines end with a lone CR (old Mac line endings): SQLite, like dbmate, ends a line"
    " and a '--' comment only at LF, so the header would swallow the SQL after it."
    " Save the file with LF (or CRLF) line endings"
)
_HEADER_NOTE = (
    " Note: a line starting with '-- migrate:' always begins a new section, even inside"
    " a comment, a string or a trigger body."
)


@dataclass(frozen=True)
class Section:
    """The statements under one ``-- migrate:up`` or ``-- migrate:down`` header."""

    direction: str
    #: Line of the header.
    line: int
    #: Options exactly as written on the header, e.g. ``{"transaction": "false"}``.
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    statements: tuple[Statement, ...] = ()

    @property
    def transaction(self) -> bool:
        """Whether the section runs in one transaction (dbmate: unless ``transaction:false``)."""
        return self.options.get("transaction") != "false"


@dataclass(frozen=True)
class ParsedMigration:
    """A whole migration file; ``down`` is None when the file has no down header."""

    up: Section
    down: Section | None


def parse_migration(data: bytes, path: str) -> ParsedMigration:
    """Parse and validate a migration file, failing before anything touches a database."""
    scanner = MigrationScanner(path, collect=DIRECTIONS)
    scanner.feed(data)
    scanner.finish()

    def section(direction: str) -> Section | None:
        found = scanner.sections.get(direction)
        if found is None:
            return None
        statements = tuple(found.statements or ())
        return Section(direction, found.line, MappingProxyType(found.options), statements)

    up = section("up")
    assert up is not None  # finish() refuses a file without one
    return ParsedMigration(up=up, down=section("down"))


# --- the file: bytes, headers, sections -------------------------------------------------


@dataclass
class ScannedSection:
    """A section as ``MigrationScanner`` sees it; ``statements`` only if collected."""

    direction: str
    line: int
    options: dict[str, str]
    statements: list[Statement] | None
    #: Statements found so far (all of them once the scanner has finished).
    count: int = 0
    #: Whether the section has any text but whitespace (comments count): an up section
    #: of comments only is a deliberate no-op, as in dbmate; an empty one is an error.
    has_text: bool = False
    #: ``MigrationScanner(spans=True)``: (start, end, line) of each statement, flattened.
    #: Only meaningful for a file without errors.
    spans: array[int] | None = None

    @property
    def transaction(self) -> bool:
        return self.options.get("transaction") != "false"


class MigrationScanner:
    """The parser behind ``parse_migration`` and ``migrate_tasks.files.stream``: bytes in, sections out.

    Call ``feed`` with the file's bytes in pieces of any size, then ``finish``. Only the
    current statement (or open comment) and an unfinished line that may be a header are
    kept between pieces, so memory does not grow with the file. Statements of the
    ``collect`` directions are appended to ``sections[d].statements`` as they are found
    (a streaming caller takes them away as it goes).

    Errors are those of a whole-file parse, whatever the chunking, ranked like this:
    UTF-16, NUL byte, invalid UTF-8, bad header, no up section, the first section (or
    preamble) with an error, empty up section. So errors that the end of the file could
    still outrank wait for ``finish``; UTF-16 and NUL, which nothing outranks, are raised
    by ``feed`` at once. Once an error is known no more statements are collected.
    """

    def __init__(
        self,
        path: str,
        *,
        collect: Collection[str] = (),
        checksum: bool = False,
        spans: bool = False,
    ) -> None:
        self.path = path
        #: With ``spans``: each section's statements as ``(start, end, line)`` triples in
        #: ``ScannedSection.spans``, start and end being offsets in the file's text (no
        #: BOM), so ``sql == text[start:end]``. ``drop_spans`` stops it.
        self.spans = spans
        self.collect = frozenset(collect)
        self.sections: dict[str, ScannedSection] = {}
        self._input = FileBytes(path, checksum=checksum)
        self._held = ""  # an unfinished line that may still become a header
        self._chars = 0  # characters of text given to _text so far
        self._base = 0  # offset in the file's text of the text _text is cutting
        self._at_line_start = True
        self._line = 1  # line number where the next text starts
        self._section: ScannedSection | None = None  # None: the preamble
        self._splitter: Splitter | None = Splitter(path, 1)
        self._header_error: MigrationFileError | None = None
        self._region_error: MigrationFileError | None = None
        self._pending_error: MigrationFileError | None = None  # until its region ends

    @property
    def backlog(self) -> int:
        """Characters kept from earlier pieces (the current statement, mostly)."""
        return len(self._held) + (0 if self._splitter is None else len(self._splitter.buf))

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._input.size

    @property
    def checksum(self) -> str:
        """``source.checksum`` of the bytes fed (needs ``checksum=True``)."""
        checksum = self._input.checksum
        if checksum is None:
            raise ValueError("MigrationScanner(checksum=True) is needed for checksum")
        return checksum

    def feed(self, chunk: bytes) -> None:
        """Take the next piece of the file."""
        self._bytes(chunk, final=False)

    def finish(self) -> None:
        """End of file: raise the file's error, if any (see the class docstring)."""
        self._bytes(b"", final=True)
        if self._input.utf8_error is not None:
            raise self._input.utf8_error
        if self._header_error is not None:
            raise self._header_error
        up = self.sections.get("up")
        if up is None:
            raise MigrationFileError(
                self.path,
                None,
                "no '-- migrate:up' section; start the file with a line '-- migrate:up' followed"
                " by the SQL that applies the migration (optionally followed by '-- migrate:down'"
                " and the SQL that reverts it)",
            )
        if self._region_error is not None:
            raise self._region_error
        if not up.has_text:
            raise MigrationFileError(
                self.path,
                up.line,
                "up section is empty; write the migration's SQL under -- migrate:up (a"
                " section of comments only is taken as a deliberate no-op)",
            )

    def _bytes(self, chunk: bytes, final: bool) -> None:
        """Checksum and check the bytes (``FileBytes``), then cut their text (``_text``)."""
        text = self._input.decode(chunk, final)
        if text is not None:
            self._text(text, final)

    def _text(self, text: str, final: bool) -> None:
        """Cut text at section headers, feeding what lies between to the splitter.

        A header is a whole line, so an unfinished last line that could still become
        one is held back until the next piece.
        """
        if self._header_error is not None:
            return
        at_line_start = self._at_line_start
        self._base = self._chars - len(self._held)  # offset of text[0] in the file's text
        self._chars += len(text)
        if self._held:
            text, self._held, at_line_start = self._held + text, "", True
        n, pos, line = len(text), 0, self._line  # `line` is the line of text[pos]
        search = 0 if at_line_start else (text.find("\n") + 1 or n)
        hold = n
        for m in _HEADER.finditer(text, search):
            if not final and m.end() == n:  # the header line may go on in the next piece
                hold = m.start()
                break
            line += text.count("\n", pos, m.start())
            self._region(text, pos, m.start(), final=True, note=_HEADER_NOTE)
            if not self._header(m, line):
                return
            pos = min(m.end() + 1, n)
            line += m.end() < n
        else:
            if not final:
                last = text.rfind("\n", pos) + 1 or pos  # where the last line starts
                if (last or at_line_start) and _HEADER_PREFIX.fullmatch(text, last):
                    hold = last
        self._region(text, pos, hold, final=final, note="")
        self._line = line + text.count("\n", pos, hold)
        self._held = text[hold:]
        self._at_line_start = bool(self._held) or (text.endswith("\n") if n else at_line_start)

    def _header(self, m: re.Match[str], line: int) -> bool:
        """Open the section of header ``m``; False (and an error kept) if it is bad."""
        prefix, direction, rest = m.groups()
        shown = m.group(0).strip()
        try:
            if prefix != "migrate" or direction not in DIRECTIONS:
                raise MigrationFileError(
                    self.path,
                    line,
                    f"unknown section header {shown!r}; a section starts with a line"
                    " '-- migrate:up' or '-- migrate:down' (lower case)",
                )
            if direction in self.sections:
                raise MigrationFileError(
                    self.path,
                    line,
                    f"second '-- migrate:{direction}' section (the first is at line"
                    f" {self.sections[direction].line}); a file has one up section and at"
                    " most one down section",
                )
            if "\r" in rest.rstrip():  # a lone CR, then more text: old Mac line endings
                raise MigrationFileError(self.path, line, _LONE_CR)
            # This module's KNOWN_OPTIONS, read at each header (a test extends it here).
            options = parse_options(rest, self.path, line, known=KNOWN_OPTIONS)
        except MigrationFileError as error:
            self._header_error, self._splitter = error, None
            return False
        collected: list[Statement] | None = [] if direction in self.collect else None
        self._section = ScannedSection(direction, line, options, collected)
        self.sections[direction] = self._section
        if self._region_error is None:
            self._splitter = Splitter(self.path, line + 1)
            if self.spans:
                self._section.spans = self._splitter.spans = array("q")
        return True

    def drop_spans(self) -> None:
        """Stop recording spans and free those recorded (too many statements to keep)."""
        self.spans = False
        for section in self.sections.values():
            section.spans = None
        if self._splitter is not None:
            self._splitter.spans = None

    def _region(self, text: str, begin: int, end: int, *, final: bool, note: str) -> None:
        """Split ``text[begin:end]``, the next piece of the preamble or current section."""
        section = self._section
        if section is not None and not section.has_text:
            section.has_text = CODE.search(text, begin, end) is not None
        splitter = self._splitter
        if splitter is None:
            return
        try:
            statements = splitter.feed(text, begin, end, final=final, note=note, base=self._base)
        except MigrationFileError as error:
            self._region_error, self._splitter, self._pending_error = error, None, None
            return
        section, path = self._section, self.path
        for statement in statements:
            if self._pending_error is not None:
                break
            if section is None:
                self._pending_error = MigrationFileError(
                    path,
                    statement.line,
                    "SQL before the first section header; move it under '-- migrate:up' (or"
                    " '-- migrate:down'), only comments may come before the first header",
                )
            elif (error := transaction_control_error(statement, section, path)) is not None:
                self._pending_error = error
            else:
                section.count += 1
                if section.statements is not None:
                    section.statements.append(statement)
        if final and self._pending_error is not None:  # no split error outranks it now
            self._region_error, self._splitter, self._pending_error = (
                self._pending_error,
                None,
                None,
            )
