"""Safety guarantees through real processes: lock, validation, repair, protection, dry runs."""

from __future__ import annotations

import hashlib
import os
import pty
import select
import subprocess
import time

import pytest

from migrate_tasks.config.urls import parse_target, require_tls
from migrate_tasks.errors import UsageError
from tests.support.project import BIN, Project


def migration(n: int, body: str | None = None) -> tuple[str, str]:
    sql = body or (
        f"-- migrate:up\nCREATE TABLE t{n} (id INTEGER PRIMARY KEY);\n"
        f"-- migrate:down\nDROP TABLE t{n};\n"
    )
    return f"2025010100000{n}_m{n}.sql", sql


@pytest.fixture
def project(tmp_path, db_url) -> Project:
    p = Project(tmp_path / "app", db_url)
    for n in (1, 2, 3):
        p.write(*migration(n))
    return p


@pytest.fixture
def local(tmp_path) -> Project:
    p = Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")
    for n in (1, 2, 3):
        p.write(*migration(n))
    return p


def digest(project: Project) -> str:
    path = project.root / "dev.db"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hold_lock(project: Project, *, host: str, pid: int, expires_in: int) -> None:
    project.query(
        "INSERT OR REPLACE INTO schema_migrations_lock"
        ' (id, owner, "user", host, pid, acquired_at, expires_at)'
        " VALUES (1, 'other-run', 'alice', ?, ?, '2025-01-01T00:00:00Z',"
        " CAST(strftime('%s', 'now') AS INTEGER) + ?)",
        (host, pid, expires_in),
    )


# -- the lock ------------------------------------------------------------------------------


def test_lock_wait_timeout_takeover_and_unlock(project: Project):
    assert project.invoke("migrate.up", "--step", "1").code == 0  # creates the lock table
    hold_lock(project, host="build-7", pid=4242, expires_in=600)

    started = time.monotonic()
    run = project.invoke("migrate.up", "--lock-timeout", "1.5")
    assert run.code == 4, run.err
    assert time.monotonic() - started < 30
    assert "waiting for the migration lock held by alice@build-7 (pid 4242)" in run.err
    assert "timed out after 1.5 s" in run.err and "migrate.unlock" in run.err
    assert project.tracking() == {"20250101000001": "applied"}

    hold_lock(project, host="build-7", pid=4242, expires_in=-5)  # its owner died long ago
    run = project.invoke("migrate.up", "--lock-timeout", "5")
    assert run.code == 0, run.err
    assert "took over the migration lock from alice@build-7" in run.err
    assert "lease had expired" in run.err
    assert set(project.tracking().values()) == {"applied"}
    assert project.query("SELECT count(*) FROM schema_migrations_lock") == [(0,)]

    hold_lock(project, host="build-7", pid=4242, expires_in=600)
    refused = project.invoke("migrate.unlock")
    assert refused.code == 2 and "--yes" in refused.err
    assert project.query("SELECT owner FROM schema_migrations_lock") == [("other-run",)]
    dry = project.invoke("migrate.unlock", "--dry-run")
    assert dry.code == 0 and 'DELETE FROM "schema_migrations_lock" WHERE id = 1' in dry.out
    assert project.query("SELECT owner FROM schema_migrations_lock") == [("other-run",)]
    run = project.invoke("migrate.unlock", "--yes")
    assert run.code == 0, run.err
    assert "released the migration lock held by alice@build-7 (pid 4242)" in run.out
    assert project.query("SELECT count(*) FROM schema_migrations_lock") == [(0,)]
    assert project.invoke("migrate.unlock").out.strip() == "no migration lock is held"


def test_a_dead_process_on_this_host_loses_its_lock_at_once(local: Project):
    import socket

    assert local.invoke("migrate.up", "--step", "1").code == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    hold_lock(local, host=socket.gethostname(), pid=dead.pid, expires_in=600)
    run = local.invoke("migrate.up", "--lock-timeout", "0")
    assert run.code == 0, run.err
    assert "its process is gone" in run.err


# -- validation ----------------------------------------------------------------------------


def test_validate_reports_every_problem_and_up_refuses(local: Project):
    assert local.invoke("migrate.up", "--step", "2").code == 0
    assert local.invoke("migrate.validate").out.startswith("ok")

    (local.migrations / migration(1)[0]).write_text(migration(1)[1] + "-- edited\n")
    (local.migrations / migration(2)[0]).unlink()
    local.write("20250101000000_early.sql", migration(9)[1])  # older than the newest applied
    local.write("20250101000004_broken.sql", "-- migrate:up\nSELECT 'unterminated;\n")
    local.write("0020250101000003_dup.sql", migration(8)[1])  # same number as m3

    run = local.invoke("migrate.validate")
    assert run.code == 3
    for fragment in (
        "modified: 20250101000001_m1 was modified",
        "missing: 20250101000002_m2 is applied but its file is missing",
        "out_of_order: 20250101000000_early is pending but older",
        "20250101000004_broken.sql:2",
        "two migrations have version",
    ):
        assert fragment in run.out, (fragment, run.out)
    doc = local.invoke("migrate.validate", "--json").json
    assert doc["ok"] is False and len(doc["problems"]) == 5

    before = digest(local)
    run = local.invoke("migrate.up")
    assert run.code == 2 and "two migrations have version" in run.err  # file problems first
    (local.migrations / "0020250101000003_dup.sql").unlink()
    (local.migrations / "20250101000004_broken.sql").unlink()
    run = local.invoke("migrate.up")
    assert run.code == 3, run.err
    assert "modified" in run.err and "missing" in run.err and "out of order" in run.err
    assert digest(local) == before  # refused before any write

    (local.migrations / migration(1)[0]).write_text(migration(1)[1])
    local.write(*migration(2))
    run = local.invoke("migrate.up")
    assert run.code == 3 and "--allow-out-of-order" in run.err
    run = local.invoke("migrate.up", "--allow-out-of-order")
    assert run.code == 0, run.err
    assert "out of order" in run.err
    assert local.tracking()["20250101000000"] == "applied"


def test_repair_accepts_an_edited_file(local: Project):
    assert local.invoke("migrate.up").code == 0
    (local.migrations / migration(3)[0]).write_text(migration(3)[1] + "-- a comment\n")
    assert local.invoke("migrate.status", "--json").json["migrations"][2]["state"] == "modified"
    run = local.invoke("migrate.repair", "20250101000003", "--applied")
    assert run.code == 0, run.err
    assert local.invoke("migrate.validate").code == 0
    assert local.log()[-1][1:3] == ("repair", "applied")


# -- failed transaction:false migrations ---------------------------------------------------

NON_TX = """\
-- migrate:up transaction:false
CREATE TABLE nt_a (id INTEGER);
CREATE TABLE nt_b (id INTEGER);
INSERT INTO no_such_table VALUES (1);
CREATE TABLE nt_c (id INTEGER);

-- migrate:down transaction:false
DROP TABLE nt_b;
DROP TABLE nt_a;
"""


def test_failed_non_transactional_migration_blocks_until_repaired(project: Project):
    project.write("20250101000005_nontx.sql", NON_TX)
    run = project.invoke("migrate.up")
    assert run.code == 1
    assert "20250101000005_nontx.sql:4" in run.err and "transaction:false" in run.err
    names = {row[1] for row in project.schema()}
    assert {"nt_a", "nt_b"} <= names and "nt_c" not in names  # part-way, as documented
    assert project.tracking()["20250101000005"] == "failed"

    for args in (["migrate.up"], ["migrate.down"]):
        refused = project.invoke(*args)
        assert refused.code == 3, refused.err
        assert "migrate.repair 20250101000005" in refused.err

    assert project.invoke("migrate.repair", "20250101000005").code == 2  # say what was fixed
    dry = project.invoke("migrate.repair", "20250101000005", "--rolled-back", "--dry-run")
    assert dry.code == 0 and "'rolled_back'" in dry.out
    # a file name names its version, as for --to and baseline; anything else is refused alike
    named = project.invoke("migrate.repair", "20250101000005_nontx.sql", "--rolled-back", "-n")
    assert named.code == 0 and named.out == dry.out, named.err
    junk = project.invoke("migrate.repair", "nontx", "--rolled-back")
    assert junk.code == 2
    assert "error: 'nontx' is not a migration version (expected digits" in junk.err
    assert project.tracking()["20250101000005"] == "failed"

    project.query("DROP TABLE nt_a")
    project.query("DROP TABLE nt_b")  # the operator undid it by hand
    run = project.invoke("migrate.repair", "20250101000005", "--rolled-back")
    assert run.code == 0, run.err
    assert project.tracking()["20250101000005"] == "rolled_back"

    project.write(
        "20250101000005_nontx.sql", NON_TX.replace("INSERT INTO no_such_table VALUES (1);\n", "")
    )
    run = project.invoke("migrate.repair", "20250101000005", "--applied")
    assert run.code == 2  # rolled back is not a failure to repair
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert project.tracking()["20250101000005"] == "applied"
    repairs = [row for row in project.log() if row[1] == "repair"]
    assert [(r[0], r[2]) for r in repairs] == [("20250101000005", "rolled_back")]


# -- protected environments ----------------------------------------------------------------


def protected_yaml(project: Project) -> None:
    (project.root / "invoke.yaml").write_text(
        "migrate:\n  environments:\n    production:\n"
        f"      url: {project.url}\n      protected: true\n"
    )


def test_protected_environment_needs_confirmation(local: Project):
    protected_yaml(local)
    assert local.invoke("migrate.up", "--env", "production").code == 0  # deploys are not asked
    (local.migrations / migration(3)[0]).write_text(migration(3)[1] + "-- edited\n")
    before = digest(local)
    for args in (
        ["migrate.down"],
        ["migrate.repair", "20250101000003", "--applied"],  # accept the edit: a write
    ):
        run = local.invoke(*args, "--env", "production")
        assert run.code == 2, run.err
        assert "environment 'production' is protected" in run.err and "--yes" in run.err
    assert digest(local) == before
    (local.migrations / migration(3)[0]).write_text(migration(3)[1])
    run = local.invoke("migrate.down", "--env", "production", "--yes")
    assert run.code == 0, run.err
    assert local.tracking()["20250101000003"] == "rolled_back"


def test_every_writing_operation_asks_the_same_way_and_a_no_changes_nothing(local: Project):
    """One confirmation helper: each operation names what it would change, a no aborts."""
    from migrate_tasks.drivers import open_driver
    from migrate_tasks.engine.core import Engine, RunOptions

    asked: list[str] = []

    def refuse(what: str) -> bool:
        asked.append(what)
        return False

    no = RunOptions(confirm=refuse)
    assert local.invoke("migrate.up", "--step", "2").code == 0
    hold_lock(local, host="build-7", pid=4242, expires_in=600)
    before = digest(local)
    driver = open_driver(local.url)
    try:
        for operation in (
            lambda engine: engine.migrate("up", options=no),
            lambda engine: engine.migrate("down", options=no),
            lambda engine: engine.repair("20250101000002", "applied", no),
            lambda engine: engine.unlock(no),
        ):
            if len(asked) == 2:  # an edited file is what repair --applied accepts
                edited = migration(2)[1] + "-- edited\n"
                (local.migrations / migration(2)[0]).write_text(edited)
            with pytest.raises(UsageError, match=r"^aborted: nothing was changed$"):
                operation(Engine(driver, local.migrations, "schema_migrations"))
    finally:
        driver.close()
    assert asked[:3] == [
        "apply 1 migration(s): 20250101000003_m3",
        "roll back 1 migration(s): 20250101000002_m2",
        "record migration 20250101000002_m2 as applied",
    ]
    assert asked[3].startswith("release the migration lock held by alice@build-7 (pid 4242)")
    assert len(asked) == 4
    assert digest(local) == before


def test_protected_environment_asks_on_a_terminal(local: Project):
    protected_yaml(local)
    assert local.invoke("migrate.up", "--env", "production").code == 0

    def on_terminal(answer: str) -> tuple[int, str]:
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            [str(BIN / "invoke"), "migrate.down", "--env", "production"],
            cwd=local.root,
            env=local.env(LIBSQL_URL=None),
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
        )
        os.close(secondary)

        def read_some(wait: float) -> bytes | None:
            """Bytes from the terminal; None once the child has closed it (EIO on Linux)."""
            if not select.select([primary], [], [], wait)[0]:
                return b""
            try:
                return os.read(primary, 4096) or None
            except OSError:
                return None

        seen = b""
        try:
            deadline = time.monotonic() + 60
            while b"to continue:" not in seen and time.monotonic() < deadline:
                chunk = read_some(0.5)
                if chunk is None:
                    break
                seen += chunk
            assert b"to continue:" in seen, seen
            os.write(primary, answer.encode() + b"\n")
            code = proc.wait(timeout=60)
            while (chunk := read_some(0.2)) is not None and chunk:
                seen += chunk
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            os.close(primary)
        return code, seen.decode(errors="replace")

    code, text = on_terminal("no")
    assert code == 2 and "roll back 1 migration(s): 20250101000003_m3" in text
    assert "aborted" in text
    assert local.tracking()["20250101000003"] == "applied"
    code, text = on_terminal("production")
    assert code == 0, text
    assert local.tracking()["20250101000003"] == "rolled_back"


# -- dry runs change nothing ---------------------------------------------------------------


def test_dry_runs_change_nothing_byte_for_byte(local: Project):
    assert local.invoke("migrate.up", "--step", "2").code == 0
    before = digest(local)
    for args in (
        ["migrate.up", "--dry-run"],
        ["migrate.down", "--dry-run", "--all"],
        ["migrate.repair", "20250101000002", "--applied", "--dry-run"],
        ["migrate.unlock", "--dry-run"],
        ["migrate.status"],
        ["migrate.validate"],
    ):
        run = local.invoke(*args)
        assert run.code in (0, 2), (args, run.err)
    assert digest(local) == before


def test_status_and_dry_run_never_create_the_database(local: Project):
    for args in (["migrate.status"], ["migrate.up", "--dry-run"], ["migrate.validate"]):
        assert local.invoke(*args).code in (0, 3)
    assert not (local.root / "dev.db").exists()


# -- the exactly-once guard, even without the lock -----------------------------------------


def test_a_migration_applied_meanwhile_is_not_applied_again(db_url, tmp_path):
    from migrate_tasks.drivers import open_driver
    from migrate_tasks.engine.core import Engine
    from migrate_tasks.engine.plan import plan_up
    from migrate_tasks.errors import MigrationFailed

    project = Project(tmp_path / "app", db_url)
    project.write(
        "20250101000001_counter.sql",
        "-- migrate:up\nCREATE TABLE IF NOT EXISTS hits (n INTEGER);\nINSERT INTO hits VALUES (1);\n"
        "-- migrate:down\nDROP TABLE hits;\n",
    )
    with open_driver(db_url) as d1, open_driver(db_url) as d2:
        slow, fast = (
            Engine(d1, project.migrations, "schema_migrations"),
            Engine(d2, project.migrations, "schema_migrations"),
        )
        units = slow.prepare(plan_up(slow.status()))  # planned, then someone else is faster
        fast.apply(fast.prepare(plan_up(fast.status())))
        with pytest.raises(MigrationFailed, match="another run changed this migration's state"):
            slow.apply(units)
    assert project.query("SELECT count(*) FROM hits") == [(1,)]
    assert [row[2] for row in project.log()] == ["applied", "failed"]


# -- transport security --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080", True),
        ("ws://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("https://db.example.com", True),
        ("wss://db.example.com", True),
        ("libsql://db.example.com", True),
        ("http://db.example.com:8080", False),
        ("ws://10.1.2.3:8080", False),
        ("libsql://db.example.com:8080?tls=0", False),
    ],
)
def test_plain_transport_only_on_loopback(url, allowed):
    target = parse_target(url)
    if allowed:
        require_tls(target, insecure=False)
    else:
        with pytest.raises(UsageError, match="without TLS"):
            require_tls(target, insecure=False)
    require_tls(target, insecure=True)  # the explicit way out


def test_insecure_url_is_refused_before_any_connection(local: Project):
    run = local.invoke("migrate.status", "--url", "http://db.example.com:8080")
    assert run.code == 2 and "--insecure" in run.err
