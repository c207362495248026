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
  CRLF line endings are normalised to LF first, so ``sql`` never contains ``\\r\\n``.
* Statement boundaries come from SQLite itself: a ``;`` ends a statement exactly when
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
* Transaction control is refused: ``BEGIN``, ``COMMIT``, ``END`` and ``ROLLBACK`` (with
  any trailing words). ``SAVEPOINT``, ``RELEASE`` and ``ROLLBACK [TRANSACTION] TO`` are
  allowed in a transactional section, where they nest inside the migration's own
  transaction, and refused in a ``transaction:false`` section, where each statement
  commits on its own and a remote connection cannot carry a transaction across them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from migrate_tasks.errors import MigrationFileError

#: Options allowed on a section header, and the values each accepts.
#: Adding an option (e.g. ``"foreign_keys": ("on", "off")``) is one line here.
KNOWN_OPTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "transaction": ("true", "false"),
    }
)

DIRECTIONS = ("up", "down")

# SQLite's whitespace (its tokenizer also counts \v).
_WS = " \t\n\r\f\v"
_CODE = re.compile(r"[^ \t\n\r\f\v]")
# Lexes exactly what sqlite3_complete() lexes: quotes have no escapes (a doubled quote is
# just two adjacent quoted tokens), `--` runs to the newline, `/*` to the first `*/`.
# Each match swallows the ordinary SQL before its token in one go (4x faster than
# letting finditer step over it), and the match can never fail, so it is linear.
_TOKEN = re.compile(
    r"""
    (?:[^;'"`\[/-]+|-(?!-)|/(?!\*))*               # ordinary SQL, skipped
    (?:
      (;)                                           # 1: a candidate end of statement
    | (--[^\n]*|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/)     # 2: a comment
    | ('[^']*'|"[^"]*"|`[^`]*`|\[[^\]]*\])          # 3: a string or quoted identifier
    | (['"`\[]|/\*)                                 # 4: an opener that is never closed
    | (\Z)                                          # 5: the end of the text
    )
    """,
    re.VERBOSE,
)
_SEMICOLON, _COMMENT, _QUOTED, _UNCLOSED, _END = 1, 2, 3, 4, 5
_CLOSER = {"'": "'", '"': '"', "`": "`", "[": "]"}

_HEADER = re.compile(r"^--[ \t]*(migrate):(\S*)(.*)$", re.MULTILINE | re.IGNORECASE)
_MISPLACED_HEADER = re.compile(r"--[ \t]*migrate:", re.IGNORECASE)
_LEADING_JUNK = re.compile(r"(?:[ \t\n\r\f\v]+|--[^\n]*|/\*(?:.*?\*/|.*\Z))*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_CONTROL_WORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})

_HEADER_NOTE = (
    " Note: a line starting with '-- migrate:' always begins a new section, even inside"
    " a comment, a string or a trigger body."
)


@dataclass(frozen=True)
class Statement:
    """One SQL statement, without its terminating ';' (see the module docstring)."""

    sql: str
    #: 1-based line in the file of the statement's first real token.
    line: int


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
    text = _decode(data, path)
    headers = _find_headers(text, path)
    if not any(h.direction == "up" for h in headers):
        raise MigrationFileError(
            path,
            None,
            "no '-- migrate:up' section; start the file with a line '-- migrate:up' followed"
            " by the SQL that applies the migration (optionally followed by '-- migrate:down'"
            " and the SQL that reverts it)",
        )
    preamble = _split(text, 0, headers[0].start, 1, path, _HEADER_NOTE, headers=True)
    if preamble:
        raise MigrationFileError(
            path,
            preamble[0].line,
            "SQL before the first section header; move it under '-- migrate:up' (or"
            " '-- migrate:down'), only comments may come before the first header",
        )
    sections: dict[str, Section] = {}
    for index, header in enumerate(headers):
        last = index == len(headers) - 1
        body_end = len(text) if last else headers[index + 1].start
        note = "" if last else _HEADER_NOTE
        statements = _split(
            text, header.body_start, body_end, header.line + 1, path, note, headers=True
        )
        section = Section(
            header.direction, header.line, MappingProxyType(header.options), tuple(statements)
        )
        for statement in statements:
            _refuse_transaction_control(statement, section, path)
        sections[header.direction] = section
    up = sections["up"]
    if not up.statements:
        raise MigrationFileError(
            path,
            up.line,
            "up section has no statements; write the migration's SQL under -- migrate:up",
        )
    return ParsedMigration(up=up, down=sections.get("down"))


def split_statements(sql: str, first_line: int = 1, path: str = "<sql>") -> list[Statement]:
    """Split a script into statements, SQLite's ``complete_statement`` deciding each end.

    ``first_line`` is the file line on which ``sql`` starts, so statement lines and
    error lines point into the file. Comment-only chunks and empty statements (``;;``)
    are dropped. A final statement without ``;`` is accepted when it is complete once a
    ``;`` is added.
    """
    return _split(sql, 0, len(sql), first_line, path, note="")


def statement_keyword(sql: str) -> str:
    """The statement's first keyword, upper-cased, skipping comments ("" if none)."""
    words = _leading_words(sql, 1)
    return words[0] if words else ""


# --- decoding and headers ---------------------------------------------------------------


def _decode(data: bytes, path: str) -> str:
    """Bytes to text with LF line endings; refuse what is not UTF-8 text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise MigrationFileError(
            path, 1, "file is UTF-16 encoded; save it as UTF-8 (without a byte order mark)"
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise MigrationFileError(
            path,
            data.count(b"\n", 0, nul) + 1,
            "file contains a NUL byte; a migration must be a UTF-8 text file (is this a"
            " binary file, or saved as UTF-16?)",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex().upper()
        raise MigrationFileError(
            path,
            line,
            f"file is not valid UTF-8 (byte 0x{bad}); re-save it as UTF-8, e.g."
            " `iconv -f latin1 -t utf-8`",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


@dataclass(frozen=True)
class _Header:
    direction: str
    line: int
    options: dict[str, str]
    start: int  # offset of the header line
    body_start: int  # offset just after the header line


def _find_headers(text: str, path: str) -> list[_Header]:
    headers: list[_Header] = []
    seen: dict[str, int] = {}
    line, counted = 1, 0
    for m in _HEADER.finditer(text):
        line += text.count("\n", counted, m.start())
        counted = m.start()
        prefix, direction, rest = m.groups()
        shown = m.group(0).strip()
        if prefix != "migrate" or direction not in DIRECTIONS:
            raise MigrationFileError(
                path,
                line,
                f"unknown section header {shown!r}; a section starts with a line"
                " '-- migrate:up' or '-- migrate:down' (lower case)",
            )
        if direction in seen:
            raise MigrationFileError(
                path,
                line,
                f"second '-- migrate:{direction}' section (the first is at line"
                f" {seen[direction]}); a file has one up section and at most one down section",
            )
        seen[direction] = line
        options = _parse_options(rest, path, line)
        body_start = min(m.end() + 1, len(text))
        headers.append(_Header(direction, line, options, m.start(), body_start))
    return headers


def _parse_options(rest: str, path: str, line: int) -> dict[str, str]:
    known = ", ".join(f"{key}:{'|'.join(values)}" for key, values in KNOWN_OPTIONS.items())
    options: dict[str, str] = {}
    for word in rest.split():
        key, colon, value = word.partition(":")
        if not colon or key not in KNOWN_OPTIONS:
            raise MigrationFileError(
                path, line, f"unknown section option {word!r}; known options: {known}"
            )
        if value not in KNOWN_OPTIONS[key]:
            allowed = " or ".join(KNOWN_OPTIONS[key])
            raise MigrationFileError(
                path, line, f"option {key!r} must be {allowed} (lower case), not {value!r}"
            )
        if key in options:
            raise MigrationFileError(path, line, f"option {key!r} is given twice")
        options[key] = value
    return options


# --- statements ---------------------------------------------------------------------------


class _Lines:
    """Line numbers for increasing offsets, counting each newline once (linear overall)."""

    def __init__(self, text: str, first_line: int, begin: int = 0) -> None:
        self.text, self.first_line, self.begin = text, first_line, begin
        self.line, self.offset = first_line, begin

    def at(self, offset: int) -> int:
        if offset < self.offset:
            self.line, self.offset = self.first_line, self.begin
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


def _split(
    text: str,
    begin: int,
    end: int,
    first_line: int,
    path: str,
    note: str,
    *,
    headers: bool = False,
) -> list[Statement]:
    """Split ``text[begin:end]`` (offsets, so a huge file is never copied per section).

    With ``headers``, a ``-- migrate:`` comment that is not at the start of its line is
    refused: dbmate would take it for a plain comment and run what follows in the
    wrong section, which is never what its author meant.
    """
    lines = _Lines(text, first_line, begin)
    nul = text.find("\x00", begin, end)
    if nul >= 0:
        raise MigrationFileError(path, lines.at(nul), "SQL contains a NUL byte")
    statements: list[Statement] = []
    start: int | None = None  # offset of the current statement's first real token
    comments: list[tuple[int, int]] = []  # comments inside the current statement
    scanned = begin  # end of the last token looked at
    complete, find_code = sqlite3.complete_statement, _CODE.search  # hot loop: bind locally
    for m in _TOKEN.finditer(text, begin, end):
        kind = m.lastindex
        token_start, token_end = m.span(kind)  # type: ignore[arg-type]  # always set
        if start is None:
            code = find_code(text, scanned, token_start)
            if code is not None:
                start = code.start()
            elif kind == _QUOTED or (kind == _UNCLOSED and text[token_start] != "/"):
                start = token_start
        scanned = token_end
        if kind == _QUOTED:
            continue
        if kind == _SEMICOLON:
            # Only this call decides where a statement ends; everything else is bookkeeping.
            if start is not None and complete(text[start:token_end]):
                stop = _trim_end(text, start, token_start, comments)
                statements.append(Statement(text[start:stop], lines.at(start)))
                start, comments = None, []
        elif kind == _COMMENT:
            if start is not None:
                comments.append((token_start, token_end))
            if headers and _MISPLACED_HEADER.match(text, token_start):
                raise MigrationFileError(
                    path,
                    lines.at(token_start),
                    f"{text[token_start:token_end].strip()!r} is not a section header: a"
                    " header must be alone on its line, starting in the first column."
                    " Move it to the start of its own line, or reword the comment",
                )
        elif kind == _UNCLOSED:
            raise _unclosed(text, token_start, start, lines, path, note)
    if start is not None:
        sql = text[start : _trim_end(text, start, end, comments)]
        if not sqlite3.complete_statement(sql + ";"):
            raise MigrationFileError(
                path,
                lines.at(start),
                "unterminated statement: this CREATE TRIGGER never reaches the END of its"
                " BEGIN ... END body; finish the body with 'END;'." + note,
            )
        statements.append(Statement(sql, lines.at(start)))
    return statements


def _trim_end(text: str, start: int, end: int, comments: list[tuple[int, int]]) -> int:
    """Move ``end`` back over trailing whitespace and comments of the statement."""
    while True:
        while end > start and text[end - 1] in _WS:
            end -= 1
        if comments and comments[-1][0] < end <= comments[-1][1]:  # `--` keeps its spaces
            end = comments.pop()[0]
        else:
            return end


def _unclosed(
    text: str, at: int, start: int | None, lines: _Lines, path: str, note: str
) -> MigrationFileError:
    opener = text[at : at + 2] if text[at] == "/" else text[at]
    statement_line = None if start is None else lines.at(start)
    opened_line = lines.at(at)
    if opener == "/*":
        what, closer = "block comment", "*/"
    else:
        what = "string" if opener == "'" else "quoted identifier"
        closer = _CLOSER[opener]
    where = f"the {what} opened with {opener} at line {opened_line} is never closed"
    if statement_line is None:
        return MigrationFileError(
            path, opened_line, f"unterminated {what}: {where}; add the closing {closer}." + note
        )
    return MigrationFileError(
        path,
        statement_line,
        f"unterminated statement: {where}; add the closing {closer}." + note,
    )


# --- transaction control ------------------------------------------------------------------


def _leading_words(sql: str, count: int) -> list[str]:
    """The first ``count`` keywords of ``sql`` (upper-cased), stopping at any other token."""
    words: list[str] = []
    pos = 0
    while len(words) < count:
        junk = _LEADING_JUNK.match(sql, pos)  # matches, possibly empty
        pos = junk.end() if junk else pos
        word = _WORD.match(sql, pos)
        if word is None:
            break
        words.append(word.group(0).upper())
        pos = word.end()
    return words


def _refuse_transaction_control(statement: Statement, section: Section, path: str) -> None:
    first = _WORD.match(statement.sql)  # sql starts with its first real token
    if first is None or first.group(0).upper() not in _CONTROL_WORDS:
        return
    words = _leading_words(statement.sql, 3)
    savepointish = words[0] in ("SAVEPOINT", "RELEASE") or (
        words[0] == "ROLLBACK" and "TO" in words[1:]
    )
    header = f"-- migrate:{section.direction}"
    if savepointish:
        if section.transaction:
            return
        raise MigrationFileError(
            path,
            statement.line,
            f"{words[0]} is not allowed in a transaction:false section: each statement there"
            " commits on its own (remote databases cannot keep a transaction or savepoint"
            f" open between statements); remove 'transaction:false' from '{header}' to run"
            " the section in one transaction, where savepoints work",
        )
    if words[0] not in ("BEGIN", "COMMIT", "END", "ROLLBACK"):
        return
    if section.transaction:
        why = (
            "the tool runs each migration in its own transaction and records it in the same"
            f" transaction. Remove this statement; to run a section without a transaction use"
            f" '{header} transaction:false' (each statement then commits on its own)"
        )
    else:
        why = (
            "in a transaction:false section each statement commits on its own and remote"
            " databases cannot keep a transaction open between statements. Remove this"
            f" statement, or drop 'transaction:false' from '{header}' to run the whole"
            " section in one transaction"
        )
    raise MigrationFileError(
        path,
        statement.line,
        f"transaction control ({words[0]}) is not allowed in a migration: {why}",
    )
