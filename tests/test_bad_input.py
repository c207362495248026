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

from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES
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


def error_message(run) -> str:
    """The one ``error: ...`` message of a refused run, without its prefix."""
    errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.err
    return errors[0].removeprefix("error: ")


def assert_validate_lists(project: Project, kind: str, message: str) -> None:
    """``validate`` exits 3 and lists ``message`` (as up or down gave it) as ``kind``."""
    run = project.invoke("migrate.validate")
    assert run.code == 3, (run.code, run.out, run.err)
    assert f"{kind}: {message}" in run.out.splitlines(), (message, run.out)
    assert "Traceback" not in run.out + run.err


@pytest.mark.parametrize("case", sorted(CORPUS.glob("*.sql")), ids=lambda p: p.stem)
def test_every_malformed_file_is_refused_before_the_database_changes(applied, case):
    line, message = expectation(case)
    shutil.copy(case, applied.migrations / BAD_NAME)
    before = db_bytes(applied)
    run = applied.invoke("migrate.up")
    where = f"migrations/{BAD_NAME}:{line}" if line else f"migrations/{BAD_NAME}"
    assert_refused(applied, run, 2, where, message)
    assert db_bytes(applied) == before
    # validate reports exactly what up refused with
    assert_validate_lists(applied, "invalid", error_message(run))
    assert db_bytes(applied) == before


# -- validate and up in step: what a target refuses, found without the database -----------

SERVERS = {"http", "ws"}
EVERYWHERE = {"file", "http", "ws"}


def padded(sql: str, header: str = "-- migrate:up") -> str:
    """A migration over STREAM_THRESHOLD_BYTES (a long comment first), so it is streamed."""
    return f"{header}\nCREATE TABLE big (x);\n/* {'x' * STREAM_THRESHOLD_BYTES} */\n{sql}\n"


#: (id, file, targets that refuse it, fragment of the message). One file per rule of
#: migrate_tasks/compat.py; the parser's rules are the invalid corpus above.
TARGET_RULES = [
    ("pragma_foreign_keys", "-- migrate:up\nCREATE TABLE a (x);\nPRAGMA foreign_keys = OFF;\n",
     EVERYWHERE, "PRAGMA foreign_keys cannot be set"),
    ("pragma_foreign_keys_no_tx", "-- migrate:up transaction:false\nPRAGMA foreign_keys=0;\n",
     EVERYWHERE, "PRAGMA foreign_keys cannot be set"),
    ("vacuum", "-- migrate:up\nVACUUM;\n", EVERYWHERE, "VACUUM"),
    ("vacuum_no_tx", "-- migrate:up transaction:false\nVACUUM;\n", SERVERS, "sqld refuses VACUUM"),
    ("journal_mode_wal", "-- migrate:up\nPRAGMA journal_mode = WAL;\n", EVERYWHERE, "journal_mode"),
    ("journal_mode_wal_no_tx", "-- migrate:up transaction:false\nPRAGMA journal_mode = WAL;\n",
     SERVERS, "sqld refuses PRAGMA journal_mode=WAL"),
    ("pragma_synchronous", "-- migrate:up transaction:false\nPRAGMA synchronous = FULL;\n", SERVERS,
     "sqld refuses PRAGMA synchronous=FULL"),
    ("pragma_optimize", "-- migrate:up\nPRAGMA optimize;\n", SERVERS,
     "sqld refuses PRAGMA optimize"),
    ("attach", "-- migrate:up\nATTACH DATABASE ':memory:' AS other;\n", SERVERS,
     "sqld refuses ATTACH"),
    ("analyze", "-- migrate:up\nCREATE TABLE a (x);\nANALYZE;\n", SERVERS, "sqld refuses ANALYZE"),
    ("create_temp", "-- migrate:up\nCREATE TEMP TABLE scratch (x);\n", SERVERS,
     "sqld refuses CREATE TEMP"),
    ("foreign_keys_off_option", "-- migrate:up foreign_keys:off\nCREATE TABLE a (x);\n", set(),
     ""),
    ("streamed_vacuum", padded("VACUUM;"), EVERYWHERE, "VACUUM"),
    ("streamed_foreign_keys",
     padded("PRAGMA foreign_keys = OFF;", "-- migrate:up transaction:false"),
     EVERYWHERE, "PRAGMA foreign_keys cannot be set"),
    ("streamed_option", padded("SELECT 1;", "-- migrate:up foreign_keys:off"), set(), ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "refused_on", "fragment"),
    [pytest.param(*rule[1:], id=rule[0]) for rule in TARGET_RULES],
)
def test_validate_refuses_exactly_what_up_refuses(tmp_path, db_url, text, refused_on, fragment):
    """Per rule and target: up exits 2 and validate exits 3 with the same message, or
    both accept the file. validate runs first, so up's refusal cannot be its reason."""
    target = db_url.split(":", 1)[0]  # file:..., http://..., ws://...
    project = Project(tmp_path / "app", db_url)
    project.write("20250101000001_rule.sql", text + "-- migrate:down\nSELECT 1;\n")
    checked = project.invoke("migrate.validate")
    run = project.invoke("migrate.up")
    if target not in refused_on:
        assert (checked.code, run.code) == (0, 0), (checked.out, run.err)
        return
    assert run.code == 2, run.err
    message = error_message(run)
    assert "migrations/20250101000001_rule.sql:" in message and fragment in message, message
    assert checked.code == 3, (checked.out, checked.err)
    assert f"refused: {message}" in checked.out.splitlines(), checked.out
    assert project.invoke("migrate.validate").code == 3  # nothing ran: the same again


def test_target_rules_cover_every_statement_compat_checks():
    """A statement kind added to compat.py needs its row in TARGET_RULES."""
    from migrate_tasks.engine import refusals as compat

    written = " ".join(rule[1] for rule in TARGET_RULES)
    for head in compat._HEADS:
        assert f"\n{head} " in written or f"\n{head};" in written, head
    assert "foreign_keys:off" in written  # compat.options_problem


def test_validate_reports_what_down_would_refuse(tmp_path, db_url):
    """A down section the target refuses: validate says so before up (fixing it later
    would make an applied migration "modified") and after; down refuses alike."""
    project = Project(tmp_path / "app", db_url)
    project.write(
        "20250101000001_t.sql",
        "-- migrate:up\nCREATE TABLE t (x);\n-- migrate:down\nPRAGMA foreign_keys = OFF;\n"
        "DROP TABLE t;\n",
    )
    before = project.invoke("migrate.validate")
    assert before.code == 3, before.out
    assert project.invoke("migrate.up").code == 0  # up never runs a down section
    run = project.invoke("migrate.down")
    assert run.code == 2, run.err
    message = error_message(run)
    assert message.startswith("migrations/20250101000001_t.sql:4: PRAGMA foreign_keys")
    assert f"refused: {message}" in before.out.splitlines()
    assert_validate_lists(project, "refused", message)
    assert project.tracking() == {"20250101000001": "applied"}


def test_an_applied_up_section_is_not_checked_again(tmp_path):
    """Up never runs an applied migration's up section again, so validate does not hold
    a refused statement in it against the project (say, a migration dbmate applied and
    the history adopted): its down section is still checked, down may run it."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    path = project.write("20250101000001_old.sql", "-- migrate:up\nSELECT 1;\n")
    assert project.invoke("migrate.up").code == 0
    path.write_text("-- migrate:up\nPRAGMA foreign_keys = OFF;\nCREATE TABLE t (x);\n")
    assert project.invoke("migrate.repair", "20250101000001", "--applied").code == 0
    assert project.tracking() == {"20250101000001": "applied"}
    run = project.invoke("migrate.validate")
    assert run.code == 0, run.out
    path.write_text(path.read_text() + "-- migrate:down\nPRAGMA foreign_keys = OFF;\n")
    assert project.invoke("migrate.repair", "20250101000001", "--applied").code == 0
    run = project.invoke("migrate.validate")
    assert run.code == 3, run.out
    assert run.out.startswith("refused: migrations/20250101000001_old.sql:5: PRAGMA foreign_keys")


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
