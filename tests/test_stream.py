"""Streaming: ``scan_file`` + ``iter_statements`` must agree with ``parse_migration`` exactly.

Every check compares with ``parse_migration`` on the same bytes, reading in chunks of 1,
7 and 64 bytes (so chunk boundaries fall inside CRLF pairs, multi-byte characters,
comments, strings, ``-- migrate:`` headers and trigger bodies) and of the default size.
Memory and speed are measured by ``benchmarks/parse_stream.py``, not here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_parser import INVALID, PROPERTY_SETTINGS, SOUP, VALID, as_dict, read_expect, scripts

from migrate_tasks.errors import MigrationFileError
from migrate_tasks.files import stream
from migrate_tasks.files.parser import (
    MigrationScanner,
    ParsedMigration,
    Section,
    Statement,
    parse_migration,
)
from migrate_tasks.files.source import checksum
from migrate_tasks.files.stream import (
    CHUNK_SIZE,
    FileSummary,
    SectionInfo,
    iter_statements,
    scan_file,
)

CHUNKS = [1, 7, 64, CHUNK_SIZE]
NAME = "db/migrations/1_m.sql"  # what the user sees; errors must carry it

# Hand-made files for what the corpus lacks: multi-byte characters of every length,
# CRLF and lone CR, a BOM, operators that start like comments, comments and headers at
# the very end, sections in either order.
GENERATED: dict[str, bytes] = {
    "unicode": (
        '-- migrate:up\n-- ünïcødé comment; \'x\nCREATE TABLE "tåble 🦆" ("ç" TEXT);\n'
        "INSERT INTO \"tåble 🦆\" VALUES ('€; 𝄞 -- /* no comment */'), ('日本語;');\n"
        '/* ☃; */ SELECT \'é\' || "ç" FROM "tåble 🦆"; -- trailing ✓\n'
        '-- migrate:down\nDROP TABLE "tåble 🦆"; /* fin ✓ */'
    ).encode(),
    "crlf_bom_lone_cr": (
        b"\xef\xbb\xbf-- migrate:up transaction:false\r\nCREATE TABLE t (x);\r\r\n"
        b"INSERT INTO t VALUES ('a\r\nb\rc');\r\n\r\n-- migrate:down\r\nDROP TABLE t;\r\n\r"
    ),
    "operators": (
        b"-- migrate:up\nSELECT 1 - -2 - - 3 / 4 /5;SELECT 6-7/8\n;SELECT 9 -\n-- c\n1;"
        b'SELECT 1 /\n/* c */ 2;SELECT [a-b], `c/d`, "e-f" - 1\n-- migrate:down\nSELECT 1 --'
    ),
    "down_first_header_at_eof": b"-- migrate:down\nSELECT 1;\n/* c */\n-- migrate:up\nSELECT 2",
    "trigger_and_comments": (
        b"/* lead */ -- lead\n-- migrate:up\nCREATE TABLE t (x);\nCREATE TRIGGER g AFTER"
        b" UPDATE ON t BEGIN\n  SELECT 1; -- ;\n  /* ; */ SELECT 'END;'; SELECT CASE WHEN 1"
        b" THEN 2 END;\nEND; SAVEPOINT s; RELEASE s;\n-- migrate:down\n/* only a comment"
        b" */\n--"
    ),
    "many_statements": b"-- migrate:up\nCREATE TABLE t (a, b);\n"
    + b"".join(b"INSERT INTO t VALUES (%d, 'r; %d -- x');\n" % (i, i) for i in range(300))
    + b"-- migrate:down\nDROP TABLE t;\n",
}


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "1_m.sql"
    path.write_bytes(data)
    return path


def stream_parse(path: Path, chunk_size: int) -> ParsedMigration:
    """``parse_migration``'s result, built from ``scan_file`` and ``iter_statements``."""
    summary = scan_file(path, NAME, chunk_size=chunk_size)
    assert summary.checksum == checksum(path.read_bytes())
    assert summary.size == path.stat().st_size

    def section(info: SectionInfo | None) -> Section | None:
        if info is None:
            return None
        statements = tuple(
            iter_statements(
                path, NAME, info.direction, checksum=summary.checksum, chunk_size=chunk_size
            )
        )
        assert len(statements) == info.statement_count
        assert list(iter_statements(path, NAME, info.direction, chunk_size=chunk_size)) == list(
            statements
        )
        # The apply pass's way: slices at the offsets the check recorded, no parsing.
        assert info.index is not None and info.index is summary.up.index
        assert list(iter_statements(path, NAME, info.direction, index=info.index)) == list(
            statements
        )
        result = Section(info.direction, info.line, info.options, statements)
        assert result.transaction is info.transaction
        return result

    up = section(summary.up)
    assert up is not None
    if summary.down is None:
        assert list(iter_statements(path, NAME, "down", chunk_size=chunk_size)) == []
        assert list(iter_statements(path, NAME, "down", index=summary.up.index)) == []
    return ParsedMigration(up, section(summary.down))


def outcome(data: bytes, cuts: list[int] | None = None) -> Any:
    """What ``MigrationScanner`` makes of ``data`` fed in pieces cut at ``cuts``.

    ``None`` cuts: ``parse_migration`` itself, the reference.
    """
    try:
        if cuts is None:
            return as_dict(parse_migration(data, NAME))
        scanner = MigrationScanner(NAME, collect=("up", "down"))
        for begin, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            scanner.feed(data[begin:end])
        scanner.finish()
    except MigrationFileError as error:
        assert error.path == NAME
        return ("error", error.line, error.reason)
    sections = {
        d: Section(d, s.line, s.options, tuple(s.statements or ()))
        for d, s in scanner.sections.items()
    }
    return as_dict(ParsedMigration(sections["up"], sections.get("down")))


def stream_error(path: Path, chunk_size: int) -> MigrationFileError:
    with pytest.raises(MigrationFileError) as info:
        scan_file(path, NAME, chunk_size=chunk_size)
    return info.value


# --- valid files --------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("variant", ["lf", "crlf", "bom+crlf"])
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_corpus_streams_like_parse_migration(
    tmp_path: Path, path: Path, variant: str, chunk_size: int
) -> None:
    data = path.read_bytes()
    if "crlf" in variant:
        data = data.replace(b"\n", b"\r\n")
    if "bom" in variant:
        data = b"\xef\xbb\xbf" + data
    expected = as_dict(parse_migration(data, NAME))
    assert as_dict(stream_parse(write(tmp_path, data), chunk_size)) == expected


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("name", GENERATED)
def test_generated_files_stream_like_parse_migration(
    tmp_path: Path, name: str, chunk_size: int
) -> None:
    data = GENERATED[name]
    expected = as_dict(parse_migration(data, NAME))
    assert expected["up"]["statements"]  # a valid file, so the comparison means something
    assert as_dict(stream_parse(write(tmp_path, data), chunk_size)) == expected


def test_generated_files_cover_what_they_claim() -> None:
    """Guards the point of GENERATED against edits: each shape really is in there."""
    everything = b"".join(GENERATED.values())
    for needle in ["é", "€", "🦆", "\r\n", "\r\r", "\ufeff", "- -", " /\n", "\n--"]:
        assert needle.encode() in everything, needle
    assert not GENERATED["operators"].endswith(b"\n")
    parsed = parse_migration(GENERATED["operators"], NAME)
    assert [s.line for s in parsed.up.statements] == [2, 2, 3, 5, 6]


# --- invalid files ------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_corpus_fails_like_parse_migration(
    tmp_path: Path, path: Path, crlf: bool, chunk_size: int
) -> None:
    data = path.read_bytes()
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    expect = read_expect(path.with_suffix(".expect"))
    error = stream_error(write(tmp_path, data), chunk_size)
    assert (error.path, error.line, expect.message in error.reason) == (NAME, expect.line, True)
    assert ("error", error.line, error.reason) == outcome(data)
    with pytest.raises(MigrationFileError) as info:  # iterating checks the file as well
        list(iter_statements(tmp_path / "1_m.sql", NAME, "up", chunk_size=chunk_size))
    assert (info.value.line, info.value.reason) == (error.line, error.reason)


BAD_BYTES = [
    b"-- migrate:up\nCREATE TABLE t (x);\nSELECT 'a\x00b';\n",
    "-- migrate:up\n\nINSERT INTO t VALUES ('café');\n".encode("latin-1"),
    b"-- migrate:up\nSELECT '\xc3",
    b"\xef\xbb\xbf-- migrate:up\n\xbb",
    "-- migrate:up\nSELECT 1;\n".encode("utf-16"),
    "-- migrate:up\nSELECT 1;\n".encode("utf-16-le"),
    b"\xff",
    b"\xfe\xff",
    # Several errors: the one parse_migration reports wins, not the first in the file.
    b"-- migrate:up\nSELECT '\xe9';\n-- migrate:up\nSELECT 1;\x00",
    b"-- migrate:up\nSELECT 'never closed\n-- migrate:sideways\n\xe9",
    b"-- migrate:up\nBEGIN;\nSELECT 'never closed;\n-- migrate:down\n",
    b"SELECT 1;\n-- migrate:up\nCOMMIT;\n-- migrate:up\n",
    b"SELECT 'x\n-- migrate:down\n",
]


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("data", BAD_BYTES, ids=[str(i) for i in range(len(BAD_BYTES))])
def test_bad_bytes_and_error_ranking_like_parse_migration(
    tmp_path: Path, data: bytes, chunk_size: int
) -> None:
    expected = outcome(data)
    assert expected[0] == "error"
    error = stream_error(write(tmp_path, data), chunk_size)
    assert ("error", error.line, error.reason) == expected


# --- any cutting gives the same result -----------------------------------------------------

FILE_SOUP = st.lists(
    st.one_of(
        SOUP,
        st.sampled_from(
            [
                "\n-- migrate:up\n",
                "\n-- migrate:down\n",
                "\n-- migrate:down transaction:false\n",
                "\n-- migrate:up transaction:false\r\n",
                "\n-- Migrate:up\n",
                "\n-- migrate:sideways\n",
                "\n-- mig\n",
                " -- migrate:down",
                "\r\n",
                "\r",
                "é🦆",
                "CREATE TABLE t (x);",
                "BEGIN;",
                "SAVEPOINT a;",
                "ROLLBACK TO a;",
            ]
        ),
    ),
    max_size=12,
).map(lambda parts: ("-- migrate:up\n" + "".join(parts)).encode())


SMALL_FILES = {p.name: p.read_bytes() for p in VALID + INVALID} | {
    name: data for name, data in GENERATED.items() if len(data) < 1000
}


@pytest.mark.parametrize("data", SMALL_FILES.values(), ids=list(SMALL_FILES))
def test_every_single_cut_gives_parse_migration_result(data: bytes) -> None:
    """Two pieces, cut at every offset: e.g. right before a '-- migrate:' after code."""
    expected = outcome(data)
    for cut in range(len(data) + 1):
        assert outcome(data, [cut]) == expected, cut


@PROPERTY_SETTINGS
@given(FILE_SOUP, st.lists(st.integers(0, 10_000), max_size=6), st.booleans())
def test_any_cutting_gives_parse_migration_result(data: bytes, cuts: list[int], bom: bool) -> None:
    """Valid or not, the scanner fed in arbitrary pieces ends exactly like the whole parse."""
    if bom:
        data = b"\xef\xbb\xbf" + data
    cuts = sorted(c % (len(data) + 1) for c in cuts)
    assert outcome(data, cuts) == outcome(data)


@PROPERTY_SETTINGS
@given(
    scripts(),
    scripts(),
    st.sampled_from([1, 7, 64]),
    st.sampled_from(["\n", "\r\n"]),
)
def test_generated_migrations_stream_like_parse_migration(
    tmp_path_factory: pytest.TempPathFactory,
    up: tuple[str, list[Statement]],
    down: tuple[str, list[Statement]],
    chunk_size: int,
    newline: str,
) -> None:
    text = f"-- migrate:up\n{up[0]}\n-- migrate:down transaction:false\n{down[0]}"
    data = text.replace("\n", newline).encode()
    parsed = parse_migration(data, NAME)
    # Statement for statement the generated ones, their line ends as written (CRLF kept).
    assert [(s.sql, s.line) for s in parsed.up.statements] == [
        (s.sql.replace("\n", newline), s.line + 1) for s in up[1]
    ]
    down_first = up[0].count("\n") + 3  # the down header's line
    assert parsed.down is not None
    assert [(s.sql, s.line) for s in parsed.down.statements] == [
        (s.sql.replace("\n", newline), s.line + down_first) for s in down[1]
    ]
    path = write(tmp_path_factory.mktemp("gen"), data)
    assert as_dict(stream_parse(path, chunk_size)) == as_dict(parsed)


# --- checksum -----------------------------------------------------------------------------


def test_checksum_with_crlf_and_cr_at_every_chunk_boundary(tmp_path: Path) -> None:
    data = b"-- migrate:up\r\nSELECT '\r\r\n\r\n\r';\r\r\n\r\n-- migrate:down\r\n\r"
    path = write(tmp_path, data)
    expected = checksum(data)
    assert expected != checksum(data.replace(b"\r", b""))  # lone CRs count
    for chunk_size in range(1, len(data) + 1):
        assert scan_file(path, NAME, chunk_size=chunk_size).checksum == expected, chunk_size


# --- iter_statements: laziness and a file that changes --------------------------------------


def test_file_edited_after_scan_is_refused_with_checksum(tmp_path: Path) -> None:
    path = write(tmp_path, b"-- migrate:up\nSELECT 1;\nSELECT 2;\n")
    summary = scan_file(path, NAME)
    path.write_bytes(b"-- migrate:up\nSELECT 1;\nSELECT 3;\n")
    with pytest.raises(MigrationFileError) as info:
        list(iter_statements(path, NAME, "up", checksum=summary.checksum))
    assert info.value.path == NAME and info.value.line is None
    assert info.value.reason.startswith("file changed while it was being applied")
    # Without the checksum the new (valid) content is simply what is read.
    assert [s.sql for s in iter_statements(path, NAME, "up")] == ["SELECT 1", "SELECT 3"]


def test_file_broken_after_scan_names_the_change_and_the_damage(tmp_path: Path) -> None:
    path = write(tmp_path, b"-- migrate:up\nSELECT 1;\n")
    summary = scan_file(path, NAME)
    path.write_bytes(b"-- migrate:up\nSELECT 1;\nSELECT 'oops;\n")
    with pytest.raises(MigrationFileError) as info:
        list(iter_statements(path, NAME, "up", checksum=summary.checksum))
    assert info.value.line == 3
    assert info.value.reason.startswith("file changed while it was being applied: unterminated")


def test_iteration_is_lazy_and_sees_a_file_changing_midway(tmp_path: Path) -> None:
    body = b"".join(b"SELECT %d;\n" % i for i in range(2000))
    path = write(tmp_path, b"-- migrate:up\n" + body)
    summary = scan_file(path, NAME)
    statements = iter_statements(path, NAME, "up", checksum=summary.checksum, chunk_size=64)
    assert next(statements) == Statement("SELECT 0", 2)
    path.write_bytes(b"-- migrate:up\n" + body.replace(b"SELECT 1999;", b"SELECT 9999;"))
    with pytest.raises(MigrationFileError, match="file changed while it was being applied"):
        list(statements)


def test_no_garbage_is_yielded_once_the_file_is_bad(tmp_path: Path) -> None:
    path = write(tmp_path, b"-- migrate:up\nSELECT 1;\nBEGIN;\nSELECT 2;\n")
    got: list[Statement] = []
    with pytest.raises(MigrationFileError) as info:
        got.extend(iter_statements(path, NAME, "up", chunk_size=1))
    assert got == [Statement("SELECT 1", 2)]
    assert info.value.line == 3 and "transaction control (BEGIN)" in info.value.reason


def test_scanner_keeps_only_the_current_statement() -> None:
    """Memory is O(statement + piece): the text kept between pieces never grows with the file."""
    data = b"-- migrate:up\n" + b"".join(
        b"INSERT INTO t VALUES (%d, 'x;y'); -- row %d\n" % (i, i) for i in range(20_000)
    )
    scanner = MigrationScanner(NAME)
    kept = []
    for begin in range(0, len(data), 64):
        scanner.feed(data[begin : begin + 64])
        kept.append(scanner.backlog)
    scanner.finish()
    assert len(data) > 800_000 and max(kept) < 64 + 60
    assert scanner.sections["up"].count == 20_000


def test_reads_grow_for_a_huge_statement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past _BIG_STATEMENT reads grow with the statement (else copying it is quadratic)."""
    rows = ",".join(f"({i}, 'v;{i}')" for i in range(2000))
    data = f"-- migrate:up\nCREATE TABLE t (a, b);INSERT INTO t VALUES {rows};\n".encode()
    sizes: list[int] = []
    feed = MigrationScanner.feed

    def spy(scanner: MigrationScanner, chunk: bytes) -> None:
        sizes.append(len(chunk))
        feed(scanner, chunk)

    monkeypatch.setattr(stream, "_BIG_STATEMENT", 1000)
    monkeypatch.setattr(MigrationScanner, "feed", spy)
    assert as_dict(stream_parse(write(tmp_path, data), 64)) == as_dict(parse_migration(data, NAME))
    assert max(sizes) > 1000 // 4 and min(sizes) <= 64


# --- the statement index: the apply pass without a second parse ----------------------------


def tricky_file(rows: int, newline: bytes) -> bytes:
    """Statements whose ends only a real parse finds: ';' in quotes and comments, trigger
    bodies, multi-byte characters, comments between statements, a BOM and CRLF lines."""
    parts = [b"\xef\xbb\xbf/* lead; */\n-- migrate:up\nCREATE TABLE t (a, b);\n"]
    for i in range(rows):
        parts.append(
            b"INSERT INTO t VALUES (%d, 'semi; colon -- not a comment /* nor this */'); -- x;\n"
            b"/* between; */ INSERT INTO \"t\" (a, [b]) VALUES (%d, '\xc3\xa9\xf0\x9f\xa6\x86;\n'\n"
            b"'two lines');\n" % (i, -i)
        )
        if i % 97 == 0:
            parts.append(
                b"CREATE TRIGGER g%d AFTER UPDATE ON t BEGIN\n  SELECT 1; -- ;\n  SELECT 'END;';"
                b" SELECT CASE WHEN 1 THEN 2 END;\nEND;\n" % i
            )
    parts.append(b"-- migrate:down\nDROP TABLE t; /* bye; */\n")
    return b"".join(parts).replace(b"\n", newline)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("chunk_size", [7, 4096, CHUNK_SIZE])
def test_index_and_reparse_yield_the_same_statements(
    tmp_path: Path, newline: bytes, chunk_size: int
) -> None:
    data = tricky_file(3000, newline)
    path = write(tmp_path, data)
    summary = scan_file(path, NAME, chunk_size=chunk_size)
    parsed = parse_migration(data, NAME)
    assert summary.down is not None and parsed.down is not None
    index = summary.up.index
    assert index is not None and summary.down.index is index
    for info, section in ((summary.up, parsed.up), (summary.down, parsed.down)):
        indexed = list(iter_statements(path, NAME, info.direction, index=index))
        reparsed = list(
            iter_statements(
                path, NAME, info.direction, checksum=summary.checksum, chunk_size=chunk_size
            )
        )
        assert indexed == reparsed == list(section.statements)
        assert len(indexed) == info.statement_count
    assert len(parsed.up.statements) > 6000
    assert any("\n" in s.sql for s in parsed.up.statements)


def test_too_many_statements_are_parsed_again(tmp_path: Path) -> None:
    data = tricky_file(50, b"\n")
    path = write(tmp_path, data)
    parsed = parse_migration(data, NAME)
    assert parsed.down is not None
    total = len(parsed.up.statements) + len(parsed.down.statements)  # 103
    assert scan_file(path, NAME, max_indexed=0).up.index is None
    assert scan_file(path, NAME, max_indexed=total - 1).up.index is None
    assert scan_file(path, NAME, max_indexed=total).up.index is not None


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d + b"-- appended\n",
        lambda d: d[:-1],
        lambda d: d.replace(b"-%d," % 2999, b"-%d," % 9999),
        lambda d: d.replace(b"(1, 'semi", b"(10, 'semi"),  # shifts every later chunk
    ],
    ids=["appended", "truncated", "late_edit", "early_edit"],
)
def test_index_refuses_a_changed_file_before_using_changed_bytes(tmp_path: Path, edit: Any) -> None:
    data = tricky_file(3000, b"\n")
    path = write(tmp_path, data)
    summary = scan_file(path, NAME, chunk_size=4096)
    index = summary.up.index
    assert index is not None
    statements = iter_statements(path, NAME, "up", index=index)
    first = next(statements)
    assert first == Statement("CREATE TABLE t (a, b)", 3)
    changed = edit(data)
    assert changed != data
    path.write_bytes(changed)
    yielded = [first]
    with pytest.raises(MigrationFileError) as info:
        for statement in statements:
            yielded.append(statement)
    assert (info.value.path, info.value.line) == (NAME, None)
    assert info.value.reason.startswith("file changed while it was being applied")
    # Only statements checked and read from unchanged bytes came out.
    expected = list(parse_migration(data, NAME).up.statements)
    assert yielded == expected[: len(yielded)]
    # A fresh read of the changed file is refused too.
    with pytest.raises(MigrationFileError, match="file changed while it was being applied"):
        list(iter_statements(path, NAME, "up", index=index))


def test_index_on_an_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"-- migrate:up\nSELECT 1;\n")
    index = scan_file(path, NAME).up.index
    path.unlink()
    with pytest.raises(MigrationFileError, match="changed while it was being applied: cannot"):
        list(iter_statements(path, NAME, "up", index=index))


# --- API details --------------------------------------------------------------------------


def test_summary_fields(tmp_path: Path) -> None:
    data = b"-- migrate:up transaction:false\nSELECT 1;\nSELECT 2;\n"
    summary = scan_file(write(tmp_path, data), NAME)
    up = SectionInfo("up", 1, {"transaction": "false"}, 2)
    assert summary == FileSummary(checksum(data), up, None, len(data))
    assert summary.up.transaction is False
    with pytest.raises(TypeError):
        summary.up.options["transaction"] = "true"  # type: ignore[index]


def test_unreadable_file(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.sql", tmp_path):
        with pytest.raises(MigrationFileError) as info:
            scan_file(path, NAME)
        assert (info.value.path, info.value.line) == (NAME, None)
        assert "cannot read the file" in info.value.reason
        with pytest.raises(MigrationFileError, match="cannot read the file"):
            list(iter_statements(path, NAME, "up"))


def test_bad_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, b"-- migrate:up\nSELECT 1;\n")
    with pytest.raises(ValueError, match="direction"):
        iter_statements(path, NAME, "sideways")
    with pytest.raises(ValueError, match="chunk_size"):
        iter_statements(path, NAME, "up", chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size"):
        scan_file(path, NAME, chunk_size=0)
