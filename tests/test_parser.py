"""The migration file parser: golden corpora, generated edge cases, and properties.

``testdata/parser/valid/*.sql`` each have a ``*.json`` golden beside them; regenerate
after an intended change with ``UPDATE_GOLDEN=1 pytest tests/test_parser.py`` and
review the diff. ``testdata/parser/invalid/*.sql`` must all fail; each ``*.expect``
holds the expected ``line:`` (or ``none``) and a ``message:`` fragment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate_tasks.errors import MigrationFileError
from migrate_tasks.files import parser
from migrate_tasks.files.parser import (
    ParsedMigration,
    Section,
    Statement,
    parse_migration,
)
from migrate_tasks.files.source import TEMPLATE, checksum

DATA = Path(__file__).parent / "testdata" / "parser"
VALID = sorted((DATA / "valid").glob("*.sql"))
INVALID = sorted((DATA / "invalid").glob("*.sql"))
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
#: Corpus files using libSQL-only syntax, which the stdlib sqlite3 cannot run.
NEEDS_LIBSQL = {"libsql.sql"}


def section_dict(section: Section | None) -> dict[str, Any] | None:
    if section is None:
        return None
    return {
        "direction": section.direction,
        "line": section.line,
        "options": dict(section.options),
        "transaction": section.transaction,
        "statements": [{"line": s.line, "sql": s.sql} for s in section.statements],
    }


def as_dict(parsed: ParsedMigration) -> dict[str, Any]:
    return {"up": section_dict(parsed.up), "down": section_dict(parsed.down)}


def parse_text(text: str, path: str = "m.sql") -> ParsedMigration:
    return parse_migration(text.encode(), path)


def parse_error(data: bytes | str, path: str = "m.sql") -> MigrationFileError:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(MigrationFileError) as info:
        parse_migration(raw, path)
    assert info.value.path == path
    return info.value


# --- golden corpus ------------------------------------------------------------------------


def test_corpora_are_present() -> None:
    assert len(VALID) >= 15
    assert len(INVALID) >= 30


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_corpus_matches_golden(path: Path) -> None:
    got = as_dict(parse_migration(path.read_bytes(), path.name))
    golden = path.with_suffix(".json")
    if UPDATE_GOLDEN:
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert golden.exists(), f"no {golden.name}: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert got == json.loads(golden.read_text(encoding="utf-8"))


def with_newlines(parsed: ParsedMigration, newline: str) -> ParsedMigration:
    """``parsed`` with every LF in its statements written as ``newline`` (lines unchanged)."""

    def convert(section: Section | None) -> Section | None:
        if section is None:
            return None
        statements = tuple(
            Statement(s.sql.replace("\n", newline), s.line) for s in section.statements
        )
        return Section(section.direction, section.line, section.options, statements)

    up = convert(parsed.up)
    assert up is not None
    return ParsedMigration(up, convert(parsed.down))


@pytest.mark.parametrize("variant", ["crlf", "bom", "bom+crlf"])
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_corpus_same_with_crlf_and_bom(path: Path, variant: str) -> None:
    """A CRLF copy has the same sections, options and lines, and its statements keep
    their CRLF line ends (only the checksum ignores line endings)."""
    data = path.read_bytes()
    assert b"\r" not in data  # the corpus is stored with LF; variants are made here
    if "crlf" in variant:
        data = data.replace(b"\n", b"\r\n")
    if "bom" in variant:
        data = b"\xef\xbb\xbf" + data
    expected = parse_migration(path.read_bytes(), path.name)
    if "crlf" in variant:
        expected = with_newlines(expected, "\r\n")
    assert parse_migration(data, path.name) == expected
    assert checksum(data.removeprefix(b"\xef\xbb\xbf")) == checksum(path.read_bytes())


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_corpus_statement_invariants(path: Path) -> None:
    parsed = parse_migration(path.read_bytes(), path.name)
    lines = path.read_text(encoding="utf-8").split("\n")
    for section in filter(None, (parsed.up, parsed.down)):
        assert lines[section.line - 1].startswith("--")
        for statement in section.statements:
            assert statement.sql == statement.sql.strip() and statement.sql
            assert sqlite3.complete_statement(statement.sql + ";")
            assert statement.sql.split("\n")[0] in lines[statement.line - 1]


@pytest.mark.parametrize("path", [p for p in VALID if p.name not in NEEDS_LIBSQL], ids=str)
def test_valid_corpus_runs_up_then_down_on_sqlite(path: Path) -> None:
    parsed = parse_migration(path.read_bytes(), path.name)
    # closed when done: Python 3.13 warns about (and the suite fails on) an unclosed one
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        for statement in parsed.up.statements:
            conn.execute(statement.sql)
        schema = "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        assert conn.execute(schema).fetchall()
        if parsed.down is not None and parsed.down.statements:
            for statement in parsed.down.statements:
                conn.execute(statement.sql)
            assert conn.execute(schema).fetchall() == []


@dataclass(frozen=True)
class Expect:
    line: int | None
    message: str


def read_expect(path: Path) -> Expect:
    fields = dict(
        line.split(": ", 1) for line in path.read_text(encoding="utf-8").splitlines() if line
    )
    assert set(fields) == {"line", "message"}, f"{path.name}: want 'line:' and 'message:'"
    return Expect(None if fields["line"] == "none" else int(fields["line"]), fields["message"])


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_corpus_fails(path: Path, crlf: bool) -> None:
    expect = read_expect(path.with_suffix(".expect"))
    data = path.read_bytes()
    error = parse_error(data.replace(b"\n", b"\r\n") if crlf else data, path.name)
    assert (error.line, expect.message in error.reason) == (expect.line, True), error.reason


# --- encodings and bytes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line", "fragment"),
    [
        (b"-- migrate:up\nCREATE TABLE t (x);\nSELECT 'a\x00b';\n", 3, "NUL byte"),
        ("-- migrate:up\n\nINSERT INTO t VALUES ('café');\n".encode("latin-1"), 3, "0xE9"),
        (b"-- migrate:up\nSELECT '\xc3", 2, "not valid UTF-8"),
        (b"\xef\xbb\xbf-- migrate:up\n\xbb", 2, "not valid UTF-8"),
        ("-- migrate:up\nSELECT 1;\n".encode("utf-16"), 1, "UTF-16"),
        ("-- migrate:up\nSELECT 1;\n".encode("utf-16-le"), 1, "NUL byte"),
    ],
    ids=["nul", "latin-1", "truncated-utf8", "bad-after-bom", "utf-16-bom", "utf-16-no-bom"],
)
def test_bad_bytes_are_refused_with_their_line(data: bytes, line: int, fragment: str) -> None:
    error = parse_error(data)
    assert error.line == line
    assert fragment in error.reason


def test_utf8_text_is_kept_verbatim() -> None:
    parsed = parse_text("-- migrate:up\nINSERT INTO \"ünïcødé\" VALUES ('🦆; ok');\n")
    assert parsed.up.statements == (Statement("INSERT INTO \"ünïcødé\" VALUES ('🦆; ok')", 2),)


def test_crlf_inside_a_string_is_kept() -> None:
    parsed = parse_migration(b"-- migrate:up\r\nSELECT 'a\r\nb';\r\nSELECT 2;\r\n", "m.sql")
    assert [(s.sql, s.line) for s in parsed.up.statements] == [
        ("SELECT 'a\r\nb'", 2),
        ("SELECT 2", 4),
    ]


def test_every_line_ending_is_kept_where_it_is() -> None:
    """CRLF, lone CR and CR CR LF, in literals, comments, identifiers, between
    statements and in trigger bodies: the statements are the file's exact text."""
    data = (
        b"-- migrate:up transaction:false\r\n"  # 1
        b'CREATE TABLE "a\r\nb" (v TEXT); -- after\r\n'  # 2-3
        b"INSERT INTO \"a\r\nb\" VALUES ('one\r\ntwo'), ('x\ry') /* in\r\n side */,\r\n"  # 4-7
        b"  ('p\r\r\nq') /* trailing */ ;\r\n"  # 8-9
        b'CREATE TRIGGER g AFTER INSERT ON "a\r\nb"\r\nBEGIN\r\n'  # 10-12
        b"  SELECT 1; -- c\r\n  SELECT '\r';\r\nEND;\r\n"  # 13-15
        b"-- migrate:down\r\n"  # 16
        b'DROP TABLE "a\r\nb";\r\n'  # 17
    )
    parsed = parse_migration(data, "m.sql")
    assert dict(parsed.up.options) == {"transaction": "false"}
    assert [(s.sql, s.line) for s in parsed.up.statements] == [
        ('CREATE TABLE "a\r\nb" (v TEXT)', 2),
        (
            "INSERT INTO \"a\r\nb\" VALUES ('one\r\ntwo'), ('x\ry') /* in\r\n side */,\r\n"
            "  ('p\r\r\nq')",
            4,
        ),
        (
            'CREATE TRIGGER g AFTER INSERT ON "a\r\nb"\r\nBEGIN\r\n'
            "  SELECT 1; -- c\r\n  SELECT '\r';\r\nEND",
            10,
        ),
    ]
    assert parsed.down is not None
    assert parsed.down.line == 16
    assert parsed.down.statements == (Statement('DROP TABLE "a\r\nb"', 17),)


# --- sections and options -----------------------------------------------------------------


def test_sections_and_transaction_property() -> None:
    parsed = parse_text("-- migrate:up transaction:false\nSELECT 1;\n-- migrate:down\n")
    assert parsed.up.transaction is False
    assert dict(parsed.up.options) == {"transaction": "false"}
    assert parsed.down == Section("down", 3, {}, ())
    assert parsed.down is not None and parsed.down.transaction is True
    assert Section("up", 1, {"transaction": "true"}).transaction is True


def test_options_are_read_only() -> None:
    options = parse_text("-- migrate:up transaction:false\nSELECT 1;").up.options
    with pytest.raises(TypeError):
        options["transaction"] = "true"  # type: ignore[index]


def test_adding_an_option_is_one_table_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "-- migrate:up transaction:false isolation:serializable\nSELECT 1;"
    assert "isolation" in parse_error(text).reason
    monkeypatch.setattr(
        parser, "KNOWN_OPTIONS", {**parser.KNOWN_OPTIONS, "isolation": ("serializable",)}
    )
    assert dict(parse_text(text).up.options) == {
        "transaction": "false",
        "isolation": "serializable",
    }
    assert "isolation:serializable" in parse_error("-- migrate:up x:y\nSELECT 1;").reason


def test_foreign_keys_off_is_refused_with_transaction_false() -> None:
    assert dict(parse_text("-- migrate:up foreign_keys:off\nSELECT 1;").up.options) == {
        "foreign_keys": "off"
    }
    error = parse_error("-- migrate:up foreign_keys:off transaction:false\nSELECT 1;")
    assert error.line == 1
    assert "cannot be combined with transaction:false" in error.reason


NOLINT_FILE = """\
-- migrate:up nolint:LS501,LS504 transaction:false
-- migrate:nolint LS101
DROP TABLE a; -- migrate:nolint LS101,LS102
  -- migrate:nolint LS102
ALTER TABLE b -- migrate:nolint LS102
  DROP COLUMN c;
-- migrate:down
SELECT 1;
"""


def test_nolint_comments_are_comments_sent_and_hashed_as_written() -> None:
    """``-- migrate:nolint`` (lint suppressions) on its own line, indented, or after code
    is a comment: not a header, not refused, and the statements are exactly as written."""
    parsed = parse_text(NOLINT_FILE)
    assert dict(parsed.up.options) == {"nolint": "LS501,LS504", "transaction": "false"}
    assert parsed.up.statements == (
        Statement("DROP TABLE a", 3),
        Statement("ALTER TABLE b -- migrate:nolint LS102\n  DROP COLUMN c", 5),
    )
    assert parsed.down is not None and parsed.down.statements == (Statement("SELECT 1", 8),)
    data = NOLINT_FILE.encode()
    assert checksum(data) == "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-- migrate:up nolint:ls101\nSELECT 1;", "nolint takes lint rule ids"),
        ("-- migrate:up nolint:LS101,\nSELECT 1;", "nolint takes lint rule ids"),
        ("-- migrate:up nolint:LS1 nolint:LS2\nSELECT 1;", "given twice"),
        ("-- migrate:nolintx\n-- migrate:up\nSELECT 1;", "unknown section header"),
        ("-- Migrate:Nolint LS101\n-- migrate:up\nSELECT 1;", "unknown section header"),
        ("-- migrate:up\nSELECT 1; -- migrate:down", "is not a section header"),
    ],
)
def test_nolint_near_misses_are_refused(text: str, fragment: str) -> None:
    assert fragment in parse_error(text).reason


@pytest.mark.parametrize(
    "comment",
    ["-- migrate up", "-- migration: add users", "---migrate:up", "-- the migrate:up line"],
)
def test_ordinary_comments_are_not_headers(comment: str) -> None:
    parsed = parse_text(f"-- migrate:up\n{comment}\nSELECT 1;\n")
    assert parsed.down is None
    assert parsed.up.statements == (Statement("SELECT 1", 3),)


def test_template_is_refused_until_written() -> None:
    error = parse_error(TEMPLATE)
    assert (error.line, "up section is empty" in error.reason) == (3, True)
    filled = TEMPLATE.replace("-- migrate:up\n", "-- migrate:up\nCREATE TABLE t (x);\n")
    assert parse_text(filled).up.statements == (Statement("CREATE TABLE t (x)", 4),)


@pytest.mark.parametrize(
    "up",
    ["-- nothing to do here\n", "/* kept for history */\n", "-- a\n;\n", "-- a"],
)
def test_an_up_section_of_comments_only_is_a_no_op(up: str) -> None:
    """dbmate runs such a section as a no-op, and real dbmate folders have them."""
    parsed = parse_text(f"-- migrate:up\n{up}\n-- migrate:down\nSELECT 1;\n")
    assert parsed.up.statements == ()


@pytest.mark.parametrize("up", ["", "\n", "  \t\n\n", "\r\n"])
def test_an_up_section_without_text_is_still_an_error(up: str) -> None:
    for down in ("-- migrate:down\n-- only a comment\n", ""):
        error = parse_error(f"-- migrate:up\n{up}{down}")
        assert (error.line, "up section is empty" in error.reason) == (1, True)


def test_header_on_last_line_without_newline() -> None:
    parsed = parse_text("-- migrate:up\nSELECT 1;\n-- migrate:down")
    assert parsed.down == Section("down", 3, {}, ())


# --- transaction control ------------------------------------------------------------------

REFUSED = [
    "BEGIN",
    "begin transaction",
    "BEGIN IMMEDIATE",
    "BEGIN EXCLUSIVE TRANSACTION",
    "BEGIN DEFERRED",
    "COMMIT",
    "COMMIT TRANSACTION",
    "END",
    "end transaction",
    "ROLLBACK",
    "ROLLBACK TRANSACTION",
    "/* sneaky */ COMMIT",
]


@pytest.mark.parametrize("sql", REFUSED)
@pytest.mark.parametrize("header", ["-- migrate:up", "-- migrate:up transaction:false"])
def test_transaction_control_is_refused(sql: str, header: str) -> None:
    error = parse_error(f"{header}\nCREATE TABLE t (x);\n{sql};\n")
    assert error.line == 3
    assert "is not allowed in a migration" in error.reason
    assert "transaction:false" in error.reason


@pytest.mark.parametrize(
    "sql",
    [
        "SAVEPOINT a",
        "RELEASE a",
        "RELEASE SAVEPOINT a",
        "ROLLBACK TO a",
        "ROLLBACK TRANSACTION TO SAVEPOINT a",
    ],
)
def test_savepoints_only_in_transactional_sections(sql: str) -> None:
    assert parse_text(f"-- migrate:up\n{sql};\n").up.statements == (Statement(sql, 2),)
    error = parse_error(f"-- migrate:up transaction:false\n{sql};\n")
    assert error.line == 2 and "transaction:false section" in error.reason


# --- splitting a section into statements --------------------------------------------------


def up_section(text: str, first_line: int = 2, path: str = "m.sql") -> list[Statement]:
    """The statements the parser finds in ``text`` as the up section of a file, ``text``
    starting at line ``first_line`` (blank lines and the header come before it)."""
    data = "\n" * (first_line - 2) + "-- migrate:up\n" + text
    return list(parse_migration(data.encode(), path).up.statements)


@pytest.mark.parametrize("text", ["-- c", "/* c */", ";;;", "-- a;\n/* b; */ ; ;"])
def test_nothing_but_comments_is_no_statement(text: str) -> None:
    assert up_section(text) == []


def test_split_counts_lines_from_first_line() -> None:
    got = up_section("\n-- c\nSELECT 1; SELECT\n2;\n\n  SELECT 3", first_line=10)
    assert got == [Statement("SELECT 1", 12), Statement("SELECT\n2", 12), Statement("SELECT 3", 15)]


def test_split_errors_name_path_and_statement_line() -> None:
    with pytest.raises(MigrationFileError) as info:
        up_section("SELECT 1;\nSELECT\n  'x;", first_line=5, path="a.sql")
    assert (info.value.path, info.value.line) == ("a.sql", 6)
    assert "at line 7 is never closed" in info.value.reason


# --- size and speed -----------------------------------------------------------------------


def test_huge_single_line_insert() -> None:
    rows = ",".join(f"({i}, 'v;{i} -- /* x */')" for i in range(70_000))
    text = f"-- migrate:up\nCREATE TABLE t (a, b);INSERT INTO t VALUES {rows};SELECT 1\n"
    assert len(text) > 2_000_000
    started = time.process_time()  # CPU time: other jobs on the machine do not count
    statements = parse_text(text).up.statements
    elapsed = time.process_time() - started
    assert [len(s.sql) for s in statements] == [21, len(rows) + 21, 8]
    assert elapsed < 2.0, f"2 MB line took {elapsed:.2f}s"


def test_fifty_thousand_statements_split_linearly() -> None:
    body = "".join(
        f"INSERT INTO users (id, name) VALUES ({i}, 'user; {i} -- not a comment');\n"
        for i in range(50_000)
    )
    data = f"-- migrate:up\n{body}-- migrate:down\nDELETE FROM users;\n".encode()
    started = time.process_time()  # CPU time: other jobs on the machine do not count
    parsed = parse_migration(data, "big.sql")
    elapsed = time.process_time() - started
    assert len(parsed.up.statements) == 50_000
    assert parsed.up.statements[-1].line == 50_001
    assert parsed.down is not None and parsed.down.statements[0].line == 50_003
    assert elapsed < 3.0, f"50,000 statements took {elapsed:.2f}s (measured ~0.2s)"


# --- properties ---------------------------------------------------------------------------
# Statements are generated so they really run, in order, on an empty in-memory database:
# every table is created before it is used, names are unique, strings and quoted names are
# full of ';', quotes, '--' and '/*'. Each statement may carry leading/trailing comments,
# which the splitter must strip, and inner comments, which it must keep.

# Bounded runs; database=None: no example replay store, a failure prints its example.
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
TRICKY = st.text(alphabet="ab ;-/*'\"[]`\n\rEND", max_size=12)
COMMENT_TEXT = st.text(alphabet="xy ;'\"`[/-", max_size=8)  # no '*/', no newline, no ':'


@st.composite
def gap(draw: st.DrawFn) -> str:
    """Whitespace, or a comment, between two tokens of a statement."""
    return draw(
        st.one_of(
            st.just(" "),
            st.just("\n  "),
            COMMENT_TEXT.map(lambda t: f" /*{t}*/ "),
            COMMENT_TEXT.map(lambda t: f" --{t}\n"),
        )
    )


@st.composite
def name(draw: st.DrawFn, unique: str) -> str:
    """An identifier, often quoted and holding ';' (``unique`` keeps it unique)."""
    body = draw(st.text(alphabet="ab;- */", max_size=6))
    style = draw(st.sampled_from(["plain", "double", "bracket", "backtick"]))
    if style == "plain":
        return f"x{unique}"
    inner = f"x{body}_{unique}"
    if style == "double":
        return '"' + inner.replace('"', '""') + '"'
    if style == "bracket":
        return f"[{inner}]"
    return f"`{inner}`"


@st.composite
def value(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.integers(-5, 5).map(str),
            TRICKY.map(lambda t: "'" + t.replace("'", "''") + "'"),
            st.just("x'3B2D2D'"),
            st.just("NULL"),
        )
    )


@st.composite
def statements(draw: st.DrawFn) -> list[str]:
    out: list[str] = []
    for t in range(draw(st.integers(1, 3))):
        table = draw(name(f"t{t}"))
        cols = [draw(name(f"c{c}")) for c in range(draw(st.integers(1, 3)))]
        out.append(f"CREATE TABLE{draw(gap())}{table} ({', '.join(cols)})")

        def insert(table: str = table, cols: list[str] = cols) -> str:
            values = ",".join(draw(value()) for _ in cols)
            return f"INSERT INTO {table}{draw(gap())}VALUES ({values})"

        out.extend(insert() for _ in range(draw(st.integers(0, 2))))
        if draw(st.booleans()):
            body = [insert() for _ in range(draw(st.integers(1, 2)))]
            body.append(f"SELECT CASE WHEN 1 THEN {draw(value())} END")
            inner = "".join(f"{draw(gap())}{b};" for b in body)
            trigger = draw(name(f"g{t}"))
            out.append(f"CREATE TRIGGER {trigger} AFTER UPDATE ON {table} BEGIN{inner}\nEND")
        if draw(st.booleans()):
            out.append(f"UPDATE {table} SET {cols[0]} ={draw(gap())}{draw(value())}")
        if draw(st.booleans()):
            out.append(f"SELECT count(*),{draw(gap())}{draw(value())} FROM {table}")
    return out


@st.composite
def scripts(draw: st.DrawFn) -> tuple[str, list[Statement]]:
    """A script and the statements (text, line) it must split into."""
    cores = draw(statements())
    leading = st.sampled_from(["", "\n", "-- lead;\n", "/* lead; */ ", "  /*a*/ -- b\n\t"])
    trailing = st.sampled_from(["", " ", " -- trail;\n", " /* trail; */", "\n/**/\n"])
    text, expected = "", []
    for i, core in enumerate(cores):
        text += draw(leading)
        expected.append(Statement(core, text.count("\n") + 1))
        text += core + draw(trailing)
        last = i == len(cores) - 1
        text += draw(st.sampled_from(["", "\n", ";\n"] if last else [";\n", "; ", ";"]))
    return text, expected


@PROPERTY_SETTINGS
@given(scripts())
def test_split_recovers_generated_statements_which_run(script: tuple[str, list[Statement]]) -> None:
    text, expected = script
    got = up_section(text)
    assert got == [Statement(s.sql, s.line + 1) for s in expected]
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for statement in got:
        assert sqlite3.complete_statement(statement.sql + ";")
        conn.execute(statement.sql)
    conn.close()


@settings(PROPERTY_SETTINGS, max_examples=60)  # same machinery as above, twice the data
@given(scripts(), scripts())
def test_parse_migration_keeps_sections_apart(
    up: tuple[str, list[Statement]], down: tuple[str, list[Statement]]
) -> None:
    up_text, up_expected = up
    down_text, down_expected = down
    down_first = up_text.count("\n") + 4  # header, up text, "\n", down header
    text = f"-- migrate:up\n{up_text}\n-- migrate:down transaction:false\n{down_text}"
    parsed = parse_migration(text.encode(), "m.sql")
    assert list(parsed.up.statements) == [Statement(s.sql, s.line + 1) for s in up_expected]
    assert parsed.down is not None and parsed.down.transaction is False
    assert list(parsed.down.statements) == [
        Statement(s.sql, s.line + down_first - 1) for s in down_expected
    ]


# Differential test: random token soup against a brute-force reference that asks
# complete_statement at *every* ';' and strips comments with a plain character loop.
SOUP = st.lists(
    st.sampled_from(
        [
            "'a;b'",
            "'",
            '"x;y"',
            '"',
            "[p;q]",
            "[",
            "]",
            "`r;s`",
            "`",
            "-- c;\n",
            "--",
            "/* d; */",
            "/*",
            "*/",
            ";",
            ";",
            ";",
            " ",
            "\n",
            "SELECT 1",
            "CREATE",
            "TEMP",
            "TRIGGER",
            "tr",
            "BEGIN",
            "END",
            "x",
            "-",
            "/",
            "*",
            "EXPLAIN",
            "CASE",
        ]
    ),
    max_size=30,
).map(" ".join)


def reference_code_span(text: str, a: int, b: int) -> tuple[int, int] | None:
    """Offsets of the first and past-the-last code character in text[a:b]."""
    first = last = None
    i = a
    while i < b:
        c = text[i]
        if c in " \t\n\r\f\v":
            i += 1
            continue
        if text.startswith("--", i, b):
            j = text.find("\n", i, b)
            i = b if j < 0 else j
            continue
        if text.startswith("/*", i, b):
            j = text.find("*/", i + 2, b)
            i = b if j < 0 else j + 2
            continue
        if c in "'\"`[":
            j = text.find("]" if c == "[" else c, i + 1, b)
            end = b if j < 0 else j + 1
        else:
            end = i + 1
        first = i if first is None else first
        last, i = end, end
    return None if first is None else (first, last)  # type: ignore[return-value]


def reference_split(text: str) -> list[Statement] | None:
    """The oracle, quadratic and obvious; None where the script cannot be completed."""
    out, start = [], 0
    spans = []
    for i, c in enumerate(text):
        if c == ";" and sqlite3.complete_statement(text[start : i + 1]):
            spans.append((start, i))
            start = i + 1
    if not sqlite3.complete_statement(text[start:] + "\n;"):
        return None
    spans.append((start, len(text)))
    for a, b in spans:
        span = reference_code_span(text, a, b)
        if span is not None:
            out.append(Statement(text[span[0] : span[1]], text.count("\n", 0, span[0]) + 1))
    return out


@PROPERTY_SETTINGS
@given(SOUP)
def test_split_agrees_with_brute_force_complete_statement(text: str) -> None:
    expected = reference_split(text)
    # Besides what the oracle rejects, the parser refuses an up section with no text and
    # transaction control (a statement starting with the soup's BEGIN or END).
    if (
        expected is None
        or not text.strip(" \n")
        or any(s.sql.split()[0] in ("BEGIN", "END") for s in expected)
    ):
        with pytest.raises(MigrationFileError):
            up_section(text)
    else:
        assert up_section(text) == [Statement(s.sql, s.line + 1) for s in expected]
