"""dbmate folders and databases work as they are: names, comment-only sections, adopt-dbmate.

Everything runs through the real ``invoke``/``libsql-migrate`` programs on real libSQL
files; the compatibility test at the end first migrates with the real dbmate binary
(installed from npm on first use, see ``tests/support/npm_tools.py``).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from migrate_tasks.drivers.base import Step
from migrate_tasks.files.source import checksum
from tests.support.project import Project, Run

CREATE_A = (
    "-- migrate:up\nCREATE TABLE a (id INTEGER PRIMARY KEY);\n-- migrate:down\nDROP TABLE a;\n"
)
NO_OP = (
    "-- migrate:up\n-- nothing to do: kept so versions stay in step\n-- migrate:down\nSELECT 1;\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


# --- names and comment-only sections --------------------------------------------------------


def test_dbmate_names_are_applied_and_shown_as_written(project: Project) -> None:
    project.write("20240101120000_AddComments.sql", CREATE_A)
    project.write(
        "20240101120001_create-users-table.sql",
        "-- migrate:up\nCREATE TABLE users (id INTEGER);\n-- migrate:down\nDROP TABLE users;\n",
    )
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    status = project.invoke("migrate.status", "--json")
    assert [(m["version"], m["name"], m["state"]) for m in status.json["migrations"]] == [
        ("20240101120000", "AddComments", "applied"),
        ("20240101120001", "create-users-table", "applied"),
    ]
    assert "20240101120001_create-users-table" in run.err  # "applied ..." log lines
    assert "20240101120000  AddComments " in project.invoke("migrate.status").out
    assert project.query("SELECT name FROM schema_migrations ORDER BY version") == [
        ("AddComments",),
        ("create-users-table",),
    ]


def test_an_up_section_of_comments_only_is_applied_as_a_no_op_with_a_warning(
    project: Project,
) -> None:
    project.write("20240101120000_create_a.sql", CREATE_A)
    noop = project.write("20240101120001_noop.sql", NO_OP)
    validate = project.invoke("migrate.validate", "--json")
    assert validate.code == 0, validate.err
    warning = "20240101120001_noop has only comments: applying it runs no SQL"
    assert [warning in w for w in validate.json["warnings"]] == [True]
    assert warning in validate.err
    up = project.invoke("migrate.up", "--json")
    assert up.code == 0, up.err
    assert [m["version"] for m in up.json["migrations"]] == ["20240101120000", "20240101120001"]
    assert any(warning in w for w in up.json["warnings"]) and warning in up.err
    assert project.query("SELECT version, status, checksum FROM schema_migrations") == [
        ("20240101120000", "applied", checksum(CREATE_A.encode())),
        ("20240101120001", "applied", checksum(noop.read_bytes())),
    ]
    # applied: no more warnings, and it rolls back like any other (its down is SELECT 1)
    again = project.invoke("migrate.validate")
    assert (again.code, warning in again.err) == (0, False)
    assert project.invoke("migrate.down").code == 0
    assert project.tracking() == {"20240101120000": "applied", "20240101120001": "rolled_back"}


def test_an_empty_up_section_is_still_refused(project: Project) -> None:
    project.write("20240101120000_create_a.sql", CREATE_A)
    project.write("20240101120001_empty.sql", "-- migrate:up\n\n-- migrate:down\n-- none\n")
    db = project.root / "dev.db"
    up = project.invoke("migrate.up")
    assert up.code == 2, up.err
    assert "20240101120001_empty.sql:1: up section is empty" in up.err
    assert digest(db) == "absent"
    validate = project.invoke("migrate.validate")
    assert validate.code == 3 and "up section is empty" in validate.out


def test_create_writes_a_file_that_is_refused_until_written(project: Project) -> None:
    created = project.invoke("migrate.create", "add_users")
    assert created.code == 0, created.err
    up = project.invoke("migrate.up")
    assert up.code == 2 and "up section is empty" in up.err, up.err


# --- adopt-dbmate: databases the real dbmate migrated -------------------------------------

#: A dbmate folder as dbmate users write them: `dbmate new AddComments` and
#: `dbmate new create-users-table` names, and a no-op kept for history.
DBMATE_FOLDER = {
    "20240101120000_create-users-table.sql": (
        "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n\n"
        "-- migrate:down\nDROP TABLE users;\n"
    ),
    "20240101120100_AddComments.sql": (
        "-- migrate:up\nCREATE TABLE comments (\n  id INTEGER PRIMARY KEY,\n"
        "  user_id INTEGER NOT NULL REFERENCES users (id),\n  body TEXT\n);\n"
        "CREATE INDEX comments_user ON comments (user_id);\n\n"
        "-- migrate:down\nDROP INDEX comments_user;\nDROP TABLE comments;\n"
    ),
    "20240101120200_squashed_placeholder.sql": (
        "-- migrate:up\n-- squashed into 20240101120100 long ago; kept so versions line up\n\n"
        "-- migrate:down\n-- nothing to undo\n"
    ),
}


@pytest.fixture(scope="session")
def dbmate_bin() -> Path:
    """The real dbmate, installed from npm on first use (a clear failure without npm)."""
    from tests.support.npm_tools import NpmUnavailable, dbmate

    try:
        return dbmate()
    except NpmUnavailable as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


class Dbmate:
    """The real dbmate binary on a project's local database file."""

    def __init__(self, binary: Path, project: Project, table: str = "") -> None:
        self.binary, self.project, self.table = binary, project, table
        self.db = project.root / "dev.db"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(self.binary), "--url", f"sqlite:{self.db}", "--no-dump-schema"]
        argv += ["--migrations-dir", str(self.project.migrations)]
        if self.table:
            argv += ["--migrations-table", self.table]
        done = subprocess.run(
            [*argv, *args],
            cwd=self.project.root,
            env=self.project.env(DATABASE_URL=None),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done


@pytest.fixture
def dbmated(project: Project, dbmate_bin: Path) -> Dbmate:
    """``project`` with DBMATE_FOLDER, migrated by the real ``dbmate up``."""
    for filename, text in DBMATE_FOLDER.items():
        project.write(filename, text)
    dbmate = Dbmate(dbmate_bin, project)
    dbmate("up")
    return dbmate


def tables(project: Project) -> set[str]:
    return {r[0] for r in project.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_database_dbmate_migrated_is_adopted_without_edits(dbmated: Dbmate) -> None:
    """As a dbmate user has it: the URL in .env, in dbmate's spelling (sqlite:PATH)."""
    project = dbmated.project
    (project.root / ".env").write_text('DATABASE_URL="sqlite:dev.db"\n')

    def invoke(*args: str) -> Run:
        return project.invoke(*args, LIBSQL_URL=None)

    assert project.query("SELECT version FROM schema_migrations ORDER BY version") == [
        ("20240101120000",),
        ("20240101120100",),
        ("20240101120200",),
    ]  # dbmate's own record
    refused = invoke("migrate.status")
    assert refused.code == 2 and "it is dbmate's" in refused.err, refused.err
    assert "invoke migrate.adopt-dbmate --dry-run" in refused.err
    schema, before = project.schema(), digest(dbmated.db)

    dry = invoke("migrate.adopt-dbmate", "--dry-run")
    assert dry.code == 0, dry.err
    assert "would record 3 migration(s) dbmate applied" in dry.out
    assert 'DROP TABLE "schema_migrations";' in dry.out
    assert "'20240101120100', 'AddComments', 'sha256:" in dry.out
    assert digest(dbmated.db) == before

    run = invoke("migrate.adopt-dbmate")
    assert run.code == 0, run.err
    assert "recorded 3 migration(s) dbmate applied (20240101120000 .. 20240101120200)" in run.out
    assert "dropped dbmate's table schema_migrations" in run.out
    assert project.schema() == schema  # the user's tables were not touched
    rows = project.query("SELECT version, name, checksum, status FROM schema_migrations")
    assert rows == [
        (f.split("_", 1)[0], f.split("_", 1)[1][:-4], checksum(t.encode()), "applied")
        for f, t in DBMATE_FOLDER.items()
    ]
    assert {r[1:3] for r in project.log()} == {("adopt", "applied")}
    status = invoke("migrate.status", "--check")
    assert status.code == 0 and "3 of 3 migrations applied" in status.out, status.out
    assert invoke("migrate.validate").code == 0

    # the next migration is ours, and it rolls back
    created = invoke("migrate.create", "add_user_names")
    assert created.code == 0, created.err
    (project.root / created.out.strip()).write_text(
        "-- migrate:up\nALTER TABLE users ADD COLUMN name TEXT;\n"
        "-- migrate:down\nALTER TABLE users DROP COLUMN name;\n"
    )
    assert invoke("migrate.up").code == 0
    assert "name" in {r[0] for r in project.query("SELECT name FROM pragma_table_info('users')")}
    down = invoke("migrate.down")
    assert down.code == 0, down.err
    assert project.schema() == schema
    assert list(project.tracking().values()) == ["applied"] * 3 + ["rolled_back"]


def test_files_dbmate_never_applied_stay_pending(dbmated: Dbmate) -> None:
    project = dbmated.project
    project.write("20240101120300_later.sql", CREATE_A)
    project.write("20240101110000_older.sql", CREATE_A.replace(" a", " b"))
    run = project.invoke("migrate.adopt-dbmate")
    assert run.code == 0, run.err
    assert "2 migration(s) dbmate never applied are pending" in run.out
    assert "older than the newest it applied: 20240101110000_older" in run.err
    assert "--allow-out-of-order" in run.err
    assert project.tracking() == dict.fromkeys(
        ("20240101120000", "20240101120100", "20240101120200"), "applied"
    )
    refused = project.invoke("migrate.up")
    assert refused.code == 3 and "out of order" in refused.err
    up = project.invoke("migrate.up", "--allow-out-of-order")
    assert up.code == 0 and "applied 2 migrations" in up.out, up.err


def test_versions_dbmate_recorded_without_a_file_are_refused(dbmated: Dbmate) -> None:
    project = dbmated.project
    (project.migrations / "20240101120100_AddComments.sql").unlink()
    before = digest(dbmated.db)
    run = project.invoke("migrate.adopt-dbmate")
    assert run.code == 3, run.err
    assert "records 1 version(s) with no file in migrations: 20240101120100" in run.err
    assert "nothing was changed" in run.err and "Traceback" not in run.err
    assert digest(dbmated.db) == before


def test_an_empty_dbmate_table_is_replaced_and_every_file_is_pending(dbmated: Dbmate) -> None:
    for _ in DBMATE_FOLDER:  # dbmate rolls back one migration per call
        dbmated("rollback")
    project = dbmated.project
    assert project.query("SELECT count(*) FROM schema_migrations") == [(0,)]
    run = project.invoke("migrate.adopt-dbmate")
    assert run.code == 0, run.err
    assert "recorded 0 migration(s)" in run.out and "3 migration(s) dbmate never" in run.out
    assert project.tracking() == {}
    assert project.invoke("migrate.up").code == 0
    assert set(project.tracking().values()) == {"applied"}


def test_refusals_leave_the_database_unchanged(project: Project, dbmate_bin: Path) -> None:
    project.write("20240101120000_create-a.sql", CREATE_A)
    fresh = project.invoke("migrate.adopt-dbmate")
    assert fresh.code == 2 and "has no table schema_migrations" in fresh.err, fresh.err
    assert not (project.root / "dev.db").exists()  # not even created

    dbmate = Dbmate(dbmate_bin, project)
    dbmate("up")
    project.write("20240101120001_broken.sql", "-- migrate:up\nSELECT 'unterminated;\n")
    before = digest(dbmate.db)
    broken = project.invoke("migrate.adopt-dbmate")
    assert broken.code == 2 and "20240101120001_broken.sql:2" in broken.err, broken.err
    assert digest(dbmate.db) == before
    (project.migrations / "20240101120001_broken.sql").unlink()

    other = project.invoke("migrate.adopt-dbmate", "--dbmate-table", "schema_migrations_log")
    assert other.code == 2 and "one of our own tracking tables" in other.err
    assert project.invoke("migrate.adopt-dbmate").code == 0
    again = project.invoke("migrate.adopt-dbmate")
    assert again.code == 2 and "already a migrate_tasks tracking table" in again.err
    assert project.tracking() == {"20240101120000": "applied"}


def test_a_protected_environment_asks_first(dbmated: Dbmate) -> None:
    project = dbmated.project
    (project.root / "invoke.yaml").write_text(
        "migrate:\n  environments:\n    production:\n      protected: true\n"
    )
    before = digest(dbmated.db)
    run = project.invoke("migrate.adopt-dbmate", "--env", "production")
    assert run.code == 2, run.err
    assert "environment 'production' is protected" in run.err and "--yes" in run.err
    assert digest(dbmated.db) == before
    run = project.invoke("migrate.adopt-dbmate", "--env", "production", "--yes")
    assert run.code == 0, run.err


def test_other_table_names_on_either_side(project: Project, dbmate_bin: Path) -> None:
    """dbmate's --migrations-table, and our `table` setting: no clash, same outcome."""
    project.write("20240101120000_create-a.sql", CREATE_A)
    Dbmate(dbmate_bin, project, table="dbmate_versions")("up")
    (project.root / "invoke.yaml").write_text("migrate:\n  table: tracking\n")
    run = project.invoke("migrate.adopt-dbmate", "--dbmate-table", "dbmate_versions")
    assert run.code == 0, run.err
    assert tables(project) == {"a", "tracking", "tracking_log", "tracking_lock"}
    assert project.query("SELECT version, status FROM tracking") == [("20240101120000", "applied")]


def test_baseline_does_not_count_dbmates_table_as_drift(dbmated: Dbmate) -> None:
    project = dbmated.project
    (project.root / "invoke.yaml").write_text("migrate:\n  table: tracking\n")
    run = project.invoke("migrate.baseline", "20240101120200")
    assert run.code == 0, run.err
    assert "recorded 3 migrations as applied" in run.out
    assert "schema_migrations is dbmate's migrations table" in run.err
    assert "invoke migrate.adopt-dbmate" in run.err
    assert "schema_migrations" in tables(project)  # baseline leaves it; adopt-dbmate drops it


def test_the_guard_refuses_a_dbmate_table_that_changed(db_url: str) -> None:
    """The one transaction starts by checking dbmate's table lists what was read."""
    from migrate_tasks.drivers import open_driver
    from migrate_tasks.errors import StatementError
    from migrate_tasks.ops.adopt_dbmate import CHANGED, guard_step

    with open_driver(db_url) as driver:
        driver.run_atomic(
            [
                Step("CREATE TABLE schema_migrations (version varchar(128) primary key)"),
                Step("INSERT INTO schema_migrations VALUES ('1'), ('2')"),
            ]
        )
        driver.run_atomic([guard_step("schema_migrations", ["1", "2"])])  # as read: passes
        for read in (["1"], ["1", "2", "3"], ["1", "3"], []):
            with pytest.raises(StatementError) as info:
                driver.run_atomic([guard_step("schema_migrations", read)])
            assert CHANGED in info.value.message


def test_adopt_dbmate_on_every_target(db_url: str, tmp_path: Path) -> None:
    """On sqld too (dbmate cannot reach it, so dbmate's table is made as dbmate makes it)."""
    project = Project(tmp_path / "app", db_url)
    for filename, text in DBMATE_FOLDER.items():
        project.write(filename, text)
    project.write("20240101120300_later.sql", CREATE_A)
    driver_steps = [
        Step(DBMATE_FOLDER["20240101120000_create-users-table.sql"].split("\n")[1].rstrip(";")),
        Step("create table if not exists schema_migrations (version varchar(128) primary key)"),
        Step("insert into schema_migrations (version) values ('20240101120000')"),
    ]
    from migrate_tasks.drivers import open_driver

    with open_driver(db_url) as driver:
        driver.run_atomic(driver_steps)
    run = project.invoke("migrate.adopt-dbmate")
    assert run.code == 0, run.err
    assert project.tracking() == {"20240101120000": "applied"}
    up = project.invoke("migrate.up")
    assert up.code == 0 and "applied 3 migrations" in up.out, up.err


def test_versions_of_different_lengths_are_pointed_out(project: Project, dbmate_bin: Path) -> None:
    """dbmate runs 10_b.sql before 9_a.sql (name order); we would run 9 first."""
    project.write("9_a.sql", CREATE_A)
    project.write("10_b.sql", CREATE_A.replace(" a", " b"))
    dbmate = Dbmate(dbmate_bin, project)
    applied = dbmate("up").stdout
    assert applied.index("Applying: 10_b.sql") < applied.index("Applying: 9_a.sql")
    run = project.invoke("migrate.adopt-dbmate")
    assert run.code == 0, run.err
    assert "versions in this folder have different lengths" in run.err
    assert project.tracking() == {"10": "applied", "9": "applied"}


# --- the integrity file in a dbmate folder -------------------------------------------------


def test_dbmate_ignores_the_integrity_file_in_its_folder(
    project: Project, dbmate_bin: Path
) -> None:
    """``migrate.sum`` lives in the migrations folder: the real dbmate must not mind it."""
    for filename, text in DBMATE_FOLDER.items():
        project.write(filename, text)
    assert project.invoke("migrate.hash").code == 0
    dbmate = Dbmate(dbmate_bin, project)
    up = dbmate("up")
    assert up.stdout.count("Applied: ") == 3 and "migrate.sum" not in up.stdout
    status = dbmate("status")
    assert "Applied: 3" in status.stdout and "Pending: 0" in status.stdout
    assert "migrate.sum" not in status.stdout + status.stderr
    assert "Rolled back: 20240101120200_squashed_placeholder.sql" in dbmate("rollback").stdout

    # a file `dbmate new` writes is not in the sum until `hash`
    new = dbmate("new", "add_tags").stdout
    [created] = [p for p in project.migrations.glob("*_add_tags.sql")]
    assert created.name in new
    ours = f"file:{project.root / 'ours.db'}"  # dev.db has dbmate's table: ours elsewhere
    validate = project.invoke("migrate.validate", "--json", LIBSQL_URL=ours)
    assert validate.code == 3
    kinds = {(p["kind"], p["version"]) for p in validate.json["problems"]}
    assert ("integrity", created.name.split("_")[0]) in kinds
    created.write_text(
        "-- migrate:up\nCREATE TABLE tags (id INTEGER);\n-- migrate:down\nDROP TABLE tags;\n"
    )
    assert project.invoke("migrate.hash").code == 0
    assert project.invoke("migrate.validate", LIBSQL_URL=ours).code == 0
    assert "Applying: " + created.name in dbmate("up").stdout
    assert "Applied: 4\nPending: 0" in dbmate("status").stdout
