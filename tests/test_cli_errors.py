"""Expected failures: one clear message, no traceback, the documented exit code, nothing changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.project import BIN, Project
from tests.support.sqld import closed_port

GOOD = "-- migrate:up\nCREATE TABLE t (id INTEGER);\n-- migrate:down\nDROP TABLE t;\n"
TOKEN = "tok_0123456789abcdefSECRET"


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def assert_clean_failure(run, code: int, *fragments: str) -> None:
    assert run.code == code, (run.code, run.out, run.err)
    assert "Traceback" not in run.err + run.out
    assert run.err.startswith("error: ") or "\nerror: " in run.err
    for fragment in fragments:
        assert fragment in run.err, (fragment, run.err)


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("CREATE TABLE t (id INTEGER);\n", None, "up"),
        ("-- migrate:up\n\n-- migrate:down\n-- nothing here\n", 1, "up section is empty"),
        ("-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n", 3, "up"),
        ("-- migrate:up\nBEGIN;\nCREATE TABLE x (id INTEGER);\nCOMMIT;\n", 2, "BEGIN"),
        ("-- migrate:up transaction:maybe\nSELECT 1;\n", 1, "transaction"),
        ("-- migrate:up\nSELECT 'unterminated;\n", 2, ""),
    ],
)
def test_malformed_file_exits_2_before_touching_the_database(project, body, line, fragment):
    project.write("20250101000000_good.sql", GOOD)
    project.write("20250101000001_bad.sql", body)
    db = project.root / "dev.db"
    run = project.invoke("migrate.up")
    where = f"20250101000001_bad.sql:{line}" if line else "20250101000001_bad.sql"
    assert_clean_failure(run, 2, where, fragment)
    assert digest(db) == "absent"  # not even the tracking tables were created


def test_non_utf8_and_bad_name(project):
    project.write("20250101000000_good.sql", GOOD)
    (project.migrations / "20250101000001_latin.sql").write_bytes(
        b"-- migrate:up\nSELECT 'caf\xe9';\n"
    )
    assert_clean_failure(project.invoke("migrate.up"), 2, "20250101000001_latin.sql:2", "UTF-8")
    (project.migrations / "20250101000001_latin.sql").unlink()
    project.write("Create-Users.sql", GOOD)
    assert_clean_failure(project.invoke("migrate.status"), 2, "Create-Users.sql")


def test_bad_usage_exits_2(project):
    project.write("20250101000000_good.sql", GOOD)
    assert_clean_failure(project.invoke("migrate.create", "../escape"), 2, "../escape")
    assert not (project.root / "escape.sql").exists()
    assert_clean_failure(project.invoke("migrate.up", "--to", "999"), 2, "999")
    assert_clean_failure(project.invoke("migrate.up", "--env", "nope"), 2, "unknown environment")
    assert_clean_failure(
        project.invoke("migrate.up", "--url", "postgresql://u:pw@db/app"), 2, "postgresql"
    )
    assert_clean_failure(project.invoke("migrate.status", "--log-format", "xml"), 2, "text or json")
    missing = project.invoke("migrate.status", "--dir", "nowhere")
    assert_clean_failure(missing, 2, "nowhere", "migrate.create")


@pytest.mark.parametrize("program", ["invoke", "libsql-migrate"])
def test_a_flag_that_wants_a_number_says_so(project, program):
    """Invoke casts ``--step x`` while parsing and lets the ValueError out as a traceback;
    both programs say which flag wanted what, exit 2, and run nothing."""
    project.write("20250101000000_good.sql", GOOD)
    run = project.invoke if program == "invoke" else project.cli
    prefix = "migrate." if program == "invoke" else ""
    cases = [
        (["up", "--step", "x"], "--step takes a whole number, not 'x'"),
        (["down", "-s", "1.5"], "--step takes a whole number, not '1.5'"),
        (["up", "--wait-timeout", "soon"], "--wait-timeout takes a number, not 'soon'"),
    ]
    for (task, *args), message in cases:
        assert_clean_failure(run(prefix + task, *args), 2, message)
    assert not (project.root / "dev.db").exists()


def test_database_url_from_old_postgres_setup_is_named(project):
    project.write("20250101000000_good.sql", GOOD)
    run = project.invoke("migrate.status", LIBSQL_URL=None, DATABASE_URL="postgresql://x@db/app")
    assert_clean_failure(run, 2, "postgresql")


def test_down_without_down_section_is_refused_and_changes_nothing(project):
    project.write("20250101000000_good.sql", "-- migrate:up\nCREATE TABLE t (id INTEGER);\n")
    assert project.invoke("migrate.up").code == 0
    db = project.root / "dev.db"
    before = digest(db)
    assert_clean_failure(project.invoke("migrate.down"), 2, "cannot be rolled back")
    assert digest(db) == before


def test_missing_folder_for_database_file_exits_5(project, tmp_path):
    project.write("20250101000000_good.sql", GOOD)
    run = project.invoke("migrate.up", "--url", f"file:{tmp_path}/no/such/dir/x.db")
    assert_clean_failure(run, 5, "no/such/dir")
    assert not (tmp_path / "no").exists()


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port where connections are refused for the whole test."""
    with closed_port() as port:
        yield port


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_unreachable_server_exits_5_and_never_prints_the_token(project, scheme, refusing_port):
    project.write("20250101000000_good.sql", GOOD)
    url = f"{scheme}://127.0.0.1:{refusing_port}"
    every_task = [
        ["migrate.up"],
        ["migrate.up", "--dry-run"],
        ["migrate.status", "--json"],
        ["migrate.validate", "--json"],
        ["migrate.down", "--yes"],
        ["migrate.repair", "20250101000000", "--applied", "--yes"],
        ["migrate.unlock", "--yes"],
    ]
    for args in every_task:
        for log_format in ("text", "json"):
            run = project.invoke(
                *args, "--url", url, "--auth-token", TOKEN, "-v", "--log-format", log_format
            )
            assert_clean_failure(run, 5, "127.0.0.1")
            assert TOKEN not in run.out + run.err
    run = project.invoke("migrate.up", "--url", f"{url}?authToken={TOKEN}")
    assert_clean_failure(run, 5)
    assert TOKEN not in run.out + run.err


def test_an_empty_url_from_a_missing_ci_secret_is_refused(project):
    project.write("20250101000000_good.sql", GOOD)
    run = project.invoke("migrate.up", LIBSQL_URL="", CI="true")
    assert_clean_failure(run, 2, "LIBSQL_URL is set but empty", "missing CI secret")
    assert not (project.root / "dev.db").exists()


@pytest.mark.parametrize("program", ["invoke", "libsql-migrate"])
def test_a_reader_that_goes_away_stops_the_printing_quietly(project, program):
    """``libsql-migrate status | head``: when nobody reads stdout any more, the task's work
    stands, and it stops with 141 (as a shell reports SIGPIPE) instead of a traceback."""
    project.write("20250101000000_good.sql", GOOD)
    prefix = [str(BIN / "invoke"), "migrate."] if program == "invoke" else [str(BIN / program), ""]

    def closed_stdout(task: str, *args: str) -> tuple[int, str]:
        read_end, write_end = os.pipe()
        os.close(read_end)  # gone before the program starts: every write fails, every time
        try:
            proc = subprocess.run(
                [prefix[0], prefix[1] + task, *args],
                cwd=project.root,
                env=project.env(),
                stdin=subprocess.DEVNULL,
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
            )
        finally:
            os.close(write_end)
        return proc.returncode, proc.stderr

    for task, *args in (["up"], ["status", "--json"], ["down", "--dry-run"]):
        code, err = closed_stdout(task, *args)
        assert code == 141, (task, code, err)
        assert "Traceback" not in err and "Exception ignored" not in err, err
    assert project.tracking() == {"20250101000000": "applied"}  # up's work stands
