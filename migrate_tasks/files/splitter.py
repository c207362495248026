"""Statements cut from SQL text exactly where SQLite says they end, fed in pieces.

The statement half of the parser (``files.parser`` finds the sections and their headers
and hands each region of text to a ``Splitter``): ``Statement.sql`` is the statement as
written, from its first real token to its last, comments inside kept, the ``;`` left
out, CRLF kept. A ``;`` ends a statement exactly when ``sqlite3.complete_statement`` says
the text up to it is complete, which keeps ``CREATE TRIGGER ... BEGIN ...; END;`` whole.
"""

from __future__ import annotations

import re
import sqlite3
from array import array
from dataclasses import dataclass

from migrate_tasks.errors import MigrationFileError

__all__ = ["CODE", "MISPLACED_HEADER", "Splitter", "Statement"]

# SQLite's whitespace (its tokenizer also counts \v).
_WS = " \t\n\r\f\v"
CODE = re.compile(r"[^ \t\n\r\f\v]")
# The statement splitter's scanner: the one reader of SQL text that does not use the
# package's lexer (sql/lexer.py), on purpose. It lexes exactly what sqlite3_complete()
# lexes, which decides where statements end: quotes have no escapes (a doubled quote is
# just two adjacent quoted tokens), `--` runs to the newline, `/*` to the first `*/`.
# It only needs `;`, comments and quotes, and it is the hot loop of a big file: each
# match swallows the ordinary SQL before its token in one go (4x faster than letting
# finditer step over it), and the match can never fail, so it is linear. Measured on
# the 21.5 MB file of 200,000 INSERTs that benchmarks/parse_stream.py writes: the whole
# parse_migration takes 0.63 s, while the lexer needs 1.2 s just to find that text's
# 5.8 million tokens and 4.5 s to return them. It also pauses at the end of a streamed
# chunk inside an open token (Splitter), which the lexer has no need to.
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
_CLOSER = {"'": "'", '"': '"', "`": "`", "[": "]", "/*": "*/"}

#: A ``-- migrate:`` header where no header may be (indented, after code, in a comment
#: that is not alone on its line); ``-- migrate:nolint`` is a lint suppression instead.
MISPLACED_HEADER = re.compile(r"--[ \t]*migrate:(?!(?-i:nolint)(?:[ \t\r]|$))", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    """One SQL statement, without its terminating ';' (see the module docstring)."""

    sql: str
    #: 1-based line in the file of the statement's first real token.
    line: int


# --- the splitter ---------------------------------------------------------------------------


class Splitter:
    """Splits one region (preamble, section, script) into statements, fed in pieces.

    Lexing pauses at the end of a piece only where more text could change a token: an
    open quote or comment, a ``--`` comment, a trailing ``-`` or ``/``. So any cutting
    gives the statements of a whole-text split, and each character is lexed once (an
    open token's closer is searched for from where the last search stopped). Between
    pieces only the current statement, or an open comment, is kept.
    """

    def __init__(self, path: str, first_line: int) -> None:
        self.path = path
        self.buf = ""  # text kept from earlier pieces; offsets below are into it
        self.text = ""  # the text being split by the current feed
        self.line, self.off = first_line, 0  # the line number at offset `off`
        self.pos = 0  # where lexing resumes
        self.start: int | None = None  # the current statement's first real token
        self.comments: list[tuple[int, int]] = []  # comments inside the current statement
        self.pending: tuple[int, str, int] | None = None  # open token: start, closer, search
        #: If set, (start, end, line) of each statement is appended, offsets counted from
        #: the ``base`` given to ``feed``.
        self.spans: array[int] | None = None
        self.base = 0  # offset of buf[0] (from the `base` of feed)

    def feed(
        self, text: str, begin: int, end: int, *, final: bool, note: str = "", base: int = 0
    ) -> list[Statement]:
        """Statements completed by ``text[begin:end]``; ``final`` at the region's end.

        Without anything kept, ``text`` is used in place (offsets, so a huge file is
        never copied per section). ``note`` is added to an "unterminated" error.
        """
        if self.buf:
            buf, self.buf = self.buf + text[begin:end], ""  # drop the old copy at once
            end = len(buf)
        else:
            buf = text
            self.pos = self.off = begin
            self.base = base
        self.text = buf
        pos, start, comments, pending = self.pos, self.start, self.comments, self.pending
        complete, find_code = sqlite3.complete_statement, CODE.search  # bound for the hot loop
        statements: list[Statement] = []
        if pending is not None:
            opened, closer, search = pending
            found = buf.find(closer, search, end)
            if found >= 0 or final:
                pending = None
                if closer == "\n":  # a `--` comment, running to its newline or the end
                    pos = end if found < 0 else found
                elif found < 0:
                    raise self._unclosed(opened, start, note)
                else:
                    pos = found + len(closer)
                if closer in ("\n", "*/"):
                    self._comment(opened, pos, start, comments)
            else:
                pending = (opened, closer, max(search, end - len(closer) + 1))
        if pending is None:
            scanned = pos  # end of the last token looked at
            for m in _TOKEN.finditer(buf, pos, end):
                kind = m.lastindex
                token_start, token_end = m.span(kind)  # type: ignore[arg-type]  # always set
                if kind == _END and not final and token_start > scanned and buf[end - 1] in "-/":
                    token_start = token_end = end - 1  # a `--` or `/*` may begin there
                if start is None:
                    code = find_code(buf, scanned, token_start)
                    if code is not None:
                        start = code.start()
                    elif kind == _QUOTED or (kind == _UNCLOSED and buf[token_start] != "/"):
                        start = token_start
                scanned = token_end
                if kind == _QUOTED:
                    continue
                if kind == _SEMICOLON:
                    # Only this call decides where a statement ends; the rest is bookkeeping.
                    if start is not None and complete(buf[start:token_end]):
                        stop = _trim_end(buf, start, token_start, comments)
                        line = self._line_at(start)
                        statements.append(Statement(buf[start:stop], line))
                        if self.spans is not None:
                            self.spans.extend((self.base + start, self.base + stop, line))
                        start, comments = None, []
                elif kind == _COMMENT:
                    if token_end == end and not final and buf[token_start + 1] == "-":
                        pending = (token_start, "\n", end)  # its line may go on
                        break
                    self._comment(token_start, token_end, start, comments)
                elif kind == _UNCLOSED:
                    if final:
                        raise self._unclosed(token_start, start, note)
                    closer = _CLOSER[buf[token_start:token_end]]  # the span is the opener
                    pending = (token_start, closer, max(token_end, end - len(closer) + 1))
                    break
            pos = scanned if pending is None else pending[0]
        if final:
            if start is not None:
                sql = buf[start : _trim_end(buf, start, end, comments)]
                if not complete(sql + ";"):
                    raise MigrationFileError(
                        self.path,
                        self._line_at(start),
                        "unterminated statement: this CREATE TRIGGER never reaches the END of"
                        " its BEGIN ... END body; finish the body with 'END;'." + note,
                    )
                line = self._line_at(start)
                statements.append(Statement(sql, line))
                if self.spans is not None:
                    self.spans.extend((self.base + start, self.base + start + len(sql), line))
            self.text = self.buf = ""
            return statements
        keep = pos if start is None else start  # nothing before it is needed again
        self._line_at(keep)
        self.buf, self.text, self.off, self.pos = buf[keep:end], "", 0, pos - keep
        self.base += keep
        self.start = None if start is None else start - keep
        self.comments = [(a - keep, b - keep) for a, b in comments]
        self.pending = (
            None if pending is None else (pending[0] - keep, pending[1], pending[2] - keep)
        )
        return statements

    def _line_at(self, offset: int) -> int:
        """Line of an offset; offsets mostly increase, so each newline is counted once."""
        if offset >= self.off:
            self.line += self.text.count("\n", self.off, offset)
        else:
            self.line -= self.text.count("\n", offset, self.off)
        self.off = offset
        return self.line

    def _comment(
        self, token_start: int, token_end: int, start: int | None, comments: list[tuple[int, int]]
    ) -> None:
        """A complete comment; one holding ``-- migrate:`` is refused.

        dbmate would take it for a plain comment and run what follows in the wrong
        section, which is never what its author meant.
        """
        if start is not None:
            comments.append((token_start, token_end))
        if MISPLACED_HEADER.match(self.text, token_start, token_end):
            raise MigrationFileError(
                self.path,
                self._line_at(token_start),
                f"{self.text[token_start:token_end].strip()!r} is not a section header: a"
                " header must be alone on its line, starting in the first column."
                " Move it to the start of its own line, or reword the comment",
            )

    def _unclosed(self, at: int, start: int | None, note: str) -> MigrationFileError:
        text = self.text
        opener = text[at : at + 2] if text[at] == "/" else text[at]
        statement_line = None if start is None else self._line_at(start)
        opened_line = self._line_at(at)
        if opener == "/*":
            what = "block comment"
        else:
            what = "string" if opener == "'" else "quoted identifier"
        closer = _CLOSER[opener]
        where = f"the {what} opened with {opener} at line {opened_line} is never closed"
        if statement_line is None:
            return MigrationFileError(
                self.path,
                opened_line,
                f"unterminated {what}: {where}; add the closing {closer}." + note,
            )
        return MigrationFileError(
            self.path,
            statement_line,
            f"unterminated statement: {where}; add the closing {closer}." + note,
        )


def _trim_end(text: str, start: int, end: int, comments: list[tuple[int, int]]) -> int:
    """Move ``end`` back over trailing whitespace and comments of the statement."""
    while True:
        while end > start and text[end - 1] in _WS:
            end -= 1
        if comments and comments[-1][0] < end <= comments[-1][1]:  # `--` keeps its spaces
            end = comments.pop()[0]
        else:
            return end
