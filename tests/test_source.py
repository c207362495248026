"""Migration files on disk: discovery, naming new migrations, checksums."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from migrate_tasks.errors import MigrationFileError, UsageError
from migrate_tasks.files.parser import parse_migration
from migrate_tasks.files.source import (
    FILENAME_PATTERN,
    TEMPLATE,
    MigrationFile,
    checksum,
    create_migration,
    discover,
)

NOON = datetime(2024, 1, 2, 12, 0, 0, tzinfo=timezone.utc)


def touch(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_text("-- migrate:up\nSELECT 1;\n", encoding="utf-8")


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --- discover -----------------------------------------------------------------------------


def test_discover_orders_by_number_then_name(tmp_path: Path) -> None:
    touch(tmp_path, "10_b.sql", "9_a.sql", "100_c.sql", "20240101120000_x.sql", "11_a1.sql")
    found = discover(tmp_path)
    assert [(f.version, f.name) for f in found] == [
        ("9", "a"),
        ("10", "b"),
        ("11", "a1"),
        ("100", "c"),
        ("20240101120000", "x"),
    ]
    assert found[0] == MigrationFile("9", "a", tmp_path / "9_a.sql")
    assert found[0].read() == b"-- migrate:up\nSELECT 1;\n"


def test_discover_ignores_what_is_not_a_migration(tmp_path: Path) -> None:
    touch(tmp_path, "1_a.sql", "README.md", ".gitkeep", ".2_hidden.sql", "3_b.sql~", "4_c.sql.bak")
    (tmp_path / "5_folder.sql").mkdir()
    (tmp_path / "sub").mkdir()
    touch(tmp_path / "sub", "6_nested.sql")
    assert [f.path.name for f in discover(tmp_path)] == ["1_a.sql"]


def test_discover_empty_folder(tmp_path: Path) -> None:
    assert discover(tmp_path) == []


@pytest.mark.parametrize(
    "bad",
    ["create_users.sql", "_x.sql", "v1_x.sql", "1_x.SQL", "\u0661_arabic_digit.sql"],
)
def test_discover_refuses_badly_named_sql_files(tmp_path: Path, bad: str) -> None:
    touch(tmp_path, "1_ok.sql", bad)
    with pytest.raises(MigrationFileError) as info:
        discover(tmp_path)
    assert info.value.path == str(tmp_path / bad)
    assert info.value.line is None
    assert "expected VERSION_name.sql, e.g. 20240101120000_create_users.sql" in info.value.reason


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("20240101120000_AddComments.sql", "AddComments"),  # dbmate new AddComments
        ("20240101120000_create-users-table.sql", "create-users-table"),
        ("1_Create_users.sql", "Create_users"),
        ("1-create.sql", "-create"),
        ("1_a b.sql", "a b"),
        ("1__x.sql", "_x"),
        ("20240101120000create.sql", "create"),
        ("1_.sql", ""),
        ("1.sql", ""),
        ("1_caf\u00e9.sql", "caf\u00e9"),
        ("1_x.sql.sql", "x.sql"),
    ],
)
def test_discover_accepts_every_name_dbmate_accepts(
    tmp_path: Path, filename: str, name: str
) -> None:
    """dbmate's pattern is ^(\\d+).*\\.sql$: the version is the leading digits, the rest
    is free text, kept as written (one "_" after the version separates them)."""
    touch(tmp_path, filename)
    assert [(f.version, f.name, f.path.name) for f in discover(tmp_path)] == [
        ("20240101120000" if filename.startswith("2024") else "1", name, filename)
    ]


@pytest.mark.parametrize(
    ("filename", "shown", "what"),
    [
        ("1_a\\b.sql", "1_a\\\\b.sql", "'\\\\'"),
        ("1_a\tb.sql", "1_a\\tb.sql", "'\\t'"),
        ("1_a\x7fb.sql", "1_a\\x7fb.sql", "'\\x7f'"),
        ("1_a\u2028b.sql", "1_a\\u2028b.sql", "'\\u2028'"),
    ],
)
def test_discover_refuses_names_that_cannot_be_shown(
    tmp_path: Path, filename: str, shown: str, what: str
) -> None:
    touch(tmp_path, "1_ok.sql", filename)
    with pytest.raises(MigrationFileError) as info:
        discover(tmp_path)
    assert info.value.path == os.path.join(str(tmp_path), shown)
    assert f"bad migration file name: it contains {what}" in info.value.reason


def test_discover_refuses_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    touch(tmp_path, "1_ok.sql")
    with open(os.path.join(os.fsencode(tmp_path), b"2_caf\xe9.sql"), "wb") as handle:
        handle.write(b"-- migrate:up\nSELECT 1;\n")
    with pytest.raises(MigrationFileError) as info:
        discover(tmp_path)
    assert info.value.path == os.path.join(str(tmp_path), "2_caf\\udce9.sql")
    assert "bytes that are not UTF-8" in info.value.reason


@pytest.mark.parametrize(
    ("first", "second"),
    [("5_a.sql", "5_b.sql"), ("005_a.sql", "5_b.sql"), ("5_a.sql", "5-A.sql"), ("5.sql", "5x.sql")],
)
def test_discover_refuses_duplicate_versions(tmp_path: Path, first: str, second: str) -> None:
    touch(tmp_path, "1_ok.sql", first, second)
    with pytest.raises(MigrationFileError) as info:
        discover(tmp_path)
    assert first in str(info.value) and second in str(info.value)


def test_discover_missing_folder_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        discover(tmp_path / "migrations")
    assert "does not exist" in str(info.value)
    assert "invoke migrate.create NAME" in str(info.value)


def test_discover_refuses_a_file_as_folder(tmp_path: Path) -> None:
    touch(tmp_path, "migrations")
    with pytest.raises(UsageError, match="not a folder"):
        discover(tmp_path / "migrations")


def test_filename_pattern() -> None:
    assert FILENAME_PATTERN.fullmatch("20240101120000_create_users.sql")
    assert not FILENAME_PATTERN.fullmatch("1_a.sql\n")
    assert not FILENAME_PATTERN.fullmatch("1_a.sql.sql ")
    assert not FILENAME_PATTERN.fullmatch("1_a.SQL")  # dbmate skips it; we refuse it


def test_create_avoids_versions_of_dbmate_style_names(tmp_path: Path) -> None:
    (tmp_path / "20240102120000AddX.sql").write_text("-- migrate:up\nSELECT 1;\n")
    assert create_migration(tmp_path, "y", NOON).name == "20240102120001_y.sql"


def test_read_error_names_the_file(tmp_path: Path) -> None:
    missing = MigrationFile("1", "gone", tmp_path / "1_gone.sql")
    with pytest.raises(MigrationFileError, match="cannot read the file"):
        missing.read()


# --- checksum -----------------------------------------------------------------------------


def test_checksum_is_stable_across_line_endings() -> None:
    lf = b"-- migrate:up\nCREATE TABLE t (x);\n-- migrate:down\nDROP TABLE t;\n"
    crlf = lf.replace(b"\n", b"\r\n")
    assert checksum(lf) == checksum(crlf)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", checksum(lf))
    assert checksum(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_checksum_sees_real_changes() -> None:
    base = b"-- migrate:up\nCREATE TABLE t (x);\n"
    assert checksum(base) != checksum(base.replace(b"x", b"y"))
    assert checksum(base) != checksum(base + b"\n")
    assert checksum(b"a\rb") != checksum(b"a\nb")  # only CRLF pairs are normalised


# --- create_migration ---------------------------------------------------------------------


def test_create_names_file_from_utc_time_and_writes_template(tmp_path: Path) -> None:
    path = create_migration(tmp_path, "create_users", NOON)
    assert path == tmp_path / "20240102120000_create_users.sql"
    assert path.read_bytes() == TEMPLATE.encode()
    assert [(f.version, f.name) for f in discover(tmp_path)] == [("20240102120000", "create_users")]


def test_create_converts_to_utc_and_treats_naive_as_utc(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=1))
    aware = create_migration(tmp_path, "a", datetime(2024, 1, 2, 13, 0, 5, tzinfo=paris))
    naive = create_migration(tmp_path, "b", datetime(2024, 1, 2, 13, 0, 5))
    assert (aware.name, naive.name) == ("20240102120005_a.sql", "20240102130005_b.sql")


def test_create_without_now_uses_the_clock(tmp_path: Path) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    version = int(create_migration(tmp_path, "x").name.split("_")[0])
    after = datetime.now(timezone.utc)
    assert int(before.strftime("%Y%m%d%H%M%S")) <= version <= int(after.strftime("%Y%m%d%H%M%S"))


def test_create_takes_the_next_free_second(tmp_path: Path) -> None:
    first = create_migration(tmp_path, "a", NOON)
    second = create_migration(tmp_path, "b", NOON)
    (tmp_path / "20240102120002_manual.sql").write_text("x", encoding="utf-8")
    third = create_migration(tmp_path, "c", NOON)
    same_name = create_migration(tmp_path, "a", NOON)
    assert [p.name for p in (first, second, third, same_name)] == [
        "20240102120000_a.sql",
        "20240102120001_b.sql",
        "20240102120003_c.sql",
        "20240102120004_a.sql",
    ]
    assert first.read_text(encoding="utf-8") == TEMPLATE  # never overwritten


def test_create_makes_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "db" / "migrations"
    path = create_migration(folder, "init", NOON)
    assert path.parent == folder and path.is_file()


def test_create_resolves_dotted_folders_inside_them(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    path = create_migration(tmp_path / "a" / ".." / "m", "x", NOON)
    assert path.resolve() == (tmp_path / "m" / "20240102120000_x.sql").resolve()
    assert tree(tmp_path) == ["a", "m", "m/20240102120000_x.sql"]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../x",
        "a/b",
        "..",
        "x/../../y",
        "CreateUsers",
        "create-users",
        "a b",
        "a.sql",
        "ünï",
        "/abs",
        "x\n",
        "a" * 201,
    ],
)
def test_create_refuses_bad_names_and_writes_nothing(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "inner" / "migrations"
    folder.mkdir(parents=True)
    with pytest.raises(UsageError) as info:
        create_migration(folder, name, NOON)
    assert "name" in str(info.value)
    assert tree(tmp_path) == ["inner", "inner/migrations"]


def test_create_refuses_a_file_as_folder(tmp_path: Path) -> None:
    touch(tmp_path, "migrations")
    with pytest.raises(UsageError, match="not a folder"):
        create_migration(tmp_path / "migrations", "x", NOON)


def test_create_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.sql"
    folder = tmp_path / "migrations"
    folder.mkdir()
    os.symlink(outside, folder / "20240102120000_x.sql")  # dangling, same version
    path = create_migration(folder, "x", NOON)
    assert path.name == "20240102120001_x.sql"
    assert not outside.exists()


def test_template_parses_once_sql_is_written() -> None:
    assert "-- migrate:up" in TEMPLATE and "-- migrate:down" in TEMPLATE
    filled = TEMPLATE.replace("-- migrate:up\n", "-- migrate:up\nCREATE TABLE t (x);\n", 1)
    parsed = parse_migration(filled.encode(), "t.sql")
    assert parsed.down is not None and parsed.down.statements == ()
