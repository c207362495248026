"""The bad-input corpus, through the real command line.

Every malformed migration in ``testdata/parser/invalid`` (plus the cases below) is put
after an applied migration and run with ``up``: each must exit with its documented
code, print one message naming the problem (file, line) without a traceback, and
leave the database file byte-for-byte as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.project import Project

CORPUS = Path(__file__).parent / "testdata" / "parser" / "invalid"
GOOD = "-- migrate:up\nCREATE TABLE good (id INTEGER);\n-- migrate:down\nDROP TABLE good;\n"
BAD_NAME = "20250101000002_bad.sql"


@pytest.fixture
def applied(tmp_path) -> Project:
    """A project whose database exists, with one migration applied."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")
    project.write("20250101000001_good.sql", GOOD)
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    return project


def db_bytes(project: Project) -> str:
    return hashlib.sha256((project.root / "dev.db").read_bytes()).hexdigest()


def expectation(path: Path) -> tuple[int | None, str]:
    fields = dict(
        line.split(": ", 1) for line in path.with_suffix(".expect").read_text().splitlines()
    )
    line = None if fields["line"] == "none" else int(fields["line"])
    return line, fields["message"]


def assert_refused(project: Project, run, code: int, *fragments: str) -> None:
    assert run.code == code, (run.code, run.err)
    assert "Traceback" not in run.out + run.err
    errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.err  # one message
    for fragment in fragments:
        assert fragment in run.err, (fragment, run.err)


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*.sql")), ids=lambda p: p.stem)
def test_every_malformed_file_is_refused_before_the_database_changes(applied, case):
    line, message = expectation(case)
    shutil.copy(case, applied.migrations / BAD_NAME)
    before = db_bytes(applied)
    run = applied.invoke("migrate.up")
    where = f"migrations/{BAD_NAME}:{line}" if line else f"migrations/{BAD_NAME}"
    assert_refused(applied, run, 2, where, message)
    assert db_bytes(applied) == before


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("nul", b"-- migrate:up\nSELECT 1;\x00\n", "NUL"),
        ("latin1", b"-- migrate:up\nSELECT 'caf\xe9';\n", "UTF-8"),
        ("utf16", "-- migrate:up\nSELECT 1;\n".encode("utf-16"), "UTF-16"),
        ("huge_bad_line", b"-- migrate:up\nSELECT '" + b"x" * 3_000_000 + b";\n", "unterminated"),
    ],
)
def test_binary_and_huge_bad_files(applied, name, data, fragment):
    (applied.migrations / BAD_NAME).write_bytes(data)
    before = db_bytes(applied)
    run = applied.invoke("migrate.up")
    assert_refused(applied, run, 2, BAD_NAME, fragment)
    assert len(run.err) < 2000  # the message names the problem; it does not echo 3 MB
    assert db_bytes(applied) == before


def test_duplicate_versions_and_bad_names(applied):
    before = db_bytes(applied)
    applied.write("020250101000001_again.sql", GOOD)
    assert_refused(applied, applied.invoke("migrate.up"), 2, "two migrations have version")
    (applied.migrations / "020250101000001_again.sql").unlink()
    applied.write("Add-Users.sql", GOOD)
    assert_refused(applied, applied.invoke("migrate.up"), 2, "Add-Users.sql", "VERSION_name.sql")
    assert db_bytes(applied) == before


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (
            "crlf",
            b"-- migrate:up\r\nCREATE TABLE crlf (id INTEGER);\r\n-- migrate:down\r\nDROP TABLE crlf;\r\n",
        ),
        (
            "bom",
            b"\xef\xbb\xbf-- migrate:up\nCREATE TABLE bom (id INTEGER);\n-- migrate:down\nDROP TABLE bom;\n",
        ),
        (
            "huge_line",
            b"-- migrate:up\nCREATE TABLE huge (v TEXT);\nINSERT INTO huge VALUES ('"
            + b"y" * 2_000_000
            + b"');\n-- migrate:down\nDROP TABLE huge;\n",
        ),
    ],
)
def test_odd_but_valid_files_apply(applied, name, data):
    (applied.migrations / f"20250101000002_{name}.sql").write_bytes(data)
    run = applied.invoke("migrate.up")
    assert run.code == 0, run.err
    assert name.split("_")[0] in {row[1] for row in applied.schema()}
    assert applied.invoke("migrate.validate").code == 0  # the checksum is stable


def test_tracking_table_of_another_shape_is_refused(tmp_path):
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")
    project.write("20250101000001_good.sql", GOOD)
    project.query("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)")  # dbmate's
    before = db_bytes(project)
    run = project.invoke("migrate.up")
    assert_refused(project, run, 2, "schema_migrations exists but is not a migrate_tasks", "table")
    assert db_bytes(project) == before


def test_database_in_a_missing_folder(applied, tmp_path):
    run = applied.invoke("migrate.up", "--url", f"file:{tmp_path}/nope/dev.db")
    assert_refused(applied, run, 5, "nope", "does not exist")
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgresql://u@db/app", "not a libSQL URL"),
        ("mysql://db/app", "not a libSQL URL"),
        ("http://", "http://"),
        ("libsql://127.0.0.1?tls=0", "port"),
        ("http://127.0.0.1:8080?mode=ro", "mode"),
        ("file://otherhost/x.db", "otherhost"),
    ],
)
def test_bad_urls(applied, url, fragment):
    before = db_bytes(applied)
    assert_refused(applied, applied.invoke("migrate.up", "--url", url), 2, fragment)
    assert db_bytes(applied) == before


def test_bad_token(applied, jwt_sqld):
    run = applied.invoke(
        "migrate.status", "--url", jwt_sqld.http_url, "--auth-token", "garbage-token"
    )
    assert_refused(applied, run, 5, "auth token is invalid")
    assert "garbage-token" not in run.err


def test_read_only_database_file(tmp_path):
    """Root ignores file modes, so the run happens as 'nobody' in a user namespace."""
    probe = subprocess.run(["unshare", "-U", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.fail(f"unshare -U is not permitted here: {probe.stderr!r}")
    root = Path(tempfile.mkdtemp(prefix="migrate-ro-"))
    try:
        os.chmod(root, 0o755)
        project = Project(root / "app", f"file:{root / 'app' / 'dev.db'}")
        os.chmod(project.root, 0o755)
        project.write("20250101000001_good.sql", GOOD)
        assert project.invoke("migrate.up").code == 0
        project.write("20250101000002_more.sql", GOOD.replace("good", "more"))
        db = project.root / "dev.db"
        os.chmod(db, 0o444)
        before = db_bytes(project)
        proc = subprocess.run(
            ["unshare", "-U", str(Path(sys.executable).parent / "libsql-migrate"), "up"],
            cwd=project.root,
            env=project.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 5, proc.stderr
        assert "read-only" in proc.stderr and "Traceback" not in proc.stderr
        assert db_bytes(project) == before
    finally:
        shutil.rmtree(root, ignore_errors=True)
