"""``up --single-transaction``: every pending migration in ONE transaction, all or nothing.

Through real ``invoke`` runs on every target (a local libSQL file, sqld over HTTP and over
WebSocket): a failing third migration leaves the schema and the history exactly as they
were; what cannot join one transaction is refused before anything runs; ``--dry-run``
shows the one transaction; ``--json`` reports it; the lock is taken and given back.
"""

from __future__ import annotations

import json

import pytest

from tests.support.project import Project

ACCOUNTS = """\
-- migrate:up
CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
CREATE INDEX accounts_email ON accounts (email);
INSERT INTO accounts (id, email) VALUES (1, 'a@example.com');

-- migrate:down
DROP TABLE accounts;
"""

NOTES = """\
-- migrate:up
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);

-- migrate:down
DROP TABLE notes;
"""

BROKEN = """\
-- migrate:up
CREATE TABLE tags (id INTEGER PRIMARY KEY);
INSERT INTO accounts (id, email) VALUES (2, 'a@example.com');

-- migrate:down
DROP TABLE tags;
"""

FIXED = BROKEN.replace("VALUES (2, 'a@example.com')", "VALUES (2, 'b@example.com')")

LAST = """\
-- migrate:up
CREATE TABLE last (id INTEGER PRIMARY KEY);

-- migrate:down
DROP TABLE last;
"""

NO_TRANSACTION = """\
-- migrate:up transaction:false
CREATE TABLE loose (id INTEGER PRIMARY KEY);

-- migrate:down
DROP TABLE loose;
"""

REBUILD = """\
-- migrate:up foreign_keys:off
CREATE TABLE notes_new (id INTEGER PRIMARY KEY, body TEXT NOT NULL DEFAULT '');
INSERT INTO notes_new (id, body) SELECT id, coalesce(body, '') FROM notes;
DROP TABLE notes;
ALTER TABLE notes_new RENAME TO notes;

-- migrate:down
SELECT 1;
"""

VERSIONS = ["20250101000001", "20250101000002", "20250101000003", "20250101000004"]


def four(project: Project, third: str = BROKEN) -> None:
    project.write(f"{VERSIONS[0]}_accounts.sql", ACCOUNTS)
    project.write(f"{VERSIONS[1]}_notes.sql", NOTES)
    project.write(f"{VERSIONS[2]}_tags.sql", third)
    project.write(f"{VERSIONS[3]}_last.sql", LAST)


def lock_rows(project: Project) -> list[tuple]:
    return project.query("SELECT owner FROM schema_migrations_lock")


def test_a_failing_third_migration_undoes_all_of_them(tmp_path, db_url):
    project = Project(tmp_path / "app", db_url)
    four(project)
    run = project.invoke("migrate.up", "--single-transaction")
    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    assert f"migrations/{VERSIONS[2]}_tags.sql:3" in run.err  # the statement that failed
    assert "UNIQUE constraint failed" in run.err
    assert "nothing of the other 3 pending migration(s) was applied" in run.err
    assert project.schema() == []  # not even the first two migrations' tables
    assert project.tracking() == {}  # and no history
    assert lock_rows(project) == []  # the lock was given back
    failed = [r for r in project.log() if r[2] == "failed"]
    assert [r[0] for r in failed] == [VERSIONS[2]]  # the audit log names the culprit
    assert not [r for r in project.log() if r[2] == "applied"]

    project.write(f"{VERSIONS[2]}_tags.sql", FIXED)
    run = project.invoke("migrate.up", "--single-transaction")
    assert run.code == 0, run.err
    assert "applied 4 migrations" in run.out
    assert project.tracking() == dict.fromkeys(VERSIONS, "applied")
    assert {row[1] for row in project.schema()} == {
        "accounts", "accounts_email", "notes", "tags", "last",
    }  # fmt: skip
    assert project.query("SELECT id, email FROM accounts ORDER BY id") == [
        (1, "a@example.com"),
        (2, "b@example.com"),
    ]
    assert lock_rows(project) == []
    applied = [r for r in project.log() if r[2] == "applied"]
    assert [r[0] for r in applied] == VERSIONS
    assert all(r[4] is not None and r[5] and r[6] for r in applied)  # duration, start, end

    status = project.invoke("migrate.status", "--check")
    assert status.code == 0, status.out + status.err
    again = project.invoke("migrate.up", "--single-transaction")
    assert again.code == 0 and "nothing to apply" in again.out
    down = project.invoke("migrate.down", "--all")  # rolls back one by one, as usual
    assert down.code == 0, down.err
    assert project.schema() == []


def test_only_the_pending_ones_join_the_transaction(tmp_path, db_url):
    project = Project(tmp_path / "app", db_url)
    four(project, third=FIXED)
    assert project.invoke("migrate.up", "--step", "2").code == 0
    run = project.invoke("migrate.up", "--single-transaction", "--json")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert doc["ok"] is True and doc["error"] is None and doc["dry_run"] is False
    assert [(m["version"], m["statements"]) for m in doc["migrations"]] == [
        (VERSIONS[2], 2),
        (VERSIONS[3], 1),
    ]
    assert all(m["duration_ms"] >= 0 for m in doc["migrations"])
    assert project.tracking() == dict.fromkeys(VERSIONS, "applied")


@pytest.mark.parametrize(
    ("body", "what"),
    [(NO_TRANSACTION, "transaction:false"), (REBUILD, "foreign_keys:off")],
    ids=["transaction-false", "foreign-keys-off"],
)
def test_what_cannot_join_one_transaction_is_refused_before_anything_runs(
    tmp_path, db_url, body, what
):
    project = Project(tmp_path / "app", db_url)
    project.write(f"{VERSIONS[0]}_accounts.sql", ACCOUNTS)
    project.write(f"{VERSIONS[1]}_notes.sql", NOTES)
    project.write(f"{VERSIONS[2]}_odd.sql", body)
    for args in (["--single-transaction"], ["--single-transaction", "--dry-run"]):
        run = project.invoke("migrate.up", *args)
        assert run.code == 2, run.err
        errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "Traceback" not in run.err, run.err
        assert f"migrations/{VERSIONS[2]}_odd.sql:1" in errors[0]
        assert what in errors[0] and "without --single-transaction" in errors[0]
        assert run.out == ""
    if db_url.startswith("file:"):
        assert not (tmp_path / "test.db").exists()  # the database was not even created
    else:
        assert project.schema() == []
    # without the flag, the same migrations run one by one
    assert project.invoke("migrate.up").code == 0
    assert len(project.tracking()) == 3


def test_dry_run_shows_the_one_transaction_and_changes_nothing(tmp_path, db_url):
    project = Project(tmp_path / "app", db_url)
    four(project, third=FIXED)
    run = project.invoke("migrate.up", "--single-transaction", "--dry-run")
    assert run.code == 0, run.err
    blocks = [b for b in run.out.split("COMMIT;\n") if b.strip()]
    # the lock (with the tracking tables and the history read again), then ONE transaction
    assert len(blocks) == 2 and all(b.lstrip().startswith("BEGIN;") for b in blocks), run.out
    lock, single = blocks
    assert 'INSERT INTO "schema_migrations_lock"' in lock
    assert "CREATE TABLE accounts" not in lock
    positions = [
        single.index(text)
        for text in (
            'UPDATE "schema_migrations_lock" SET expires_at',  # the lease, renewed...
            "lock_lost",  # ... and checked
            "CREATE TABLE accounts",
            "CREATE TABLE notes",
            "CREATE TABLE tags",
            "CREATE TABLE last",
            'DELETE FROM "schema_migrations_lock"',  # released by the same transaction
        )
    ]
    assert positions == sorted(positions)
    assert single.count('INSERT INTO "schema_migrations" ') == 4
    assert project.schema() == []
    if db_url.startswith("file:"):
        assert not (tmp_path / "test.db").exists()

    as_json = project.invoke("migrate.up", "--single-transaction", "--dry-run", "--json")
    assert as_json.code == 0, as_json.err
    doc = json.loads(as_json.out)
    assert doc["dry_run"] is True and [m["version"] for m in doc["migrations"]] == VERSIONS


def test_a_failed_run_prints_a_json_document_with_nothing_completed(tmp_path, db_url):
    project = Project(tmp_path / "app", db_url)
    four(project)
    run = project.invoke("migrate.up", "--single-transaction", "--json")
    assert run.code == 1, run.err
    doc = json.loads(run.out)
    assert doc["ok"] is False and doc["migrations"] == []  # nothing completed
    assert doc["error"]["exit_code"] == 1
    assert "UNIQUE constraint failed" in doc["error"]["message"]
    assert project.tracking() == {}


def test_dropping_a_table_referenced_by_an_earlier_pending_migration_is_refused(tmp_path, db_url):
    """Run one by one, the third migration's check sees the child table the second made;
    in one transaction that table exists only inside it, so the check runs there."""
    project = Project(tmp_path / "app", db_url)
    project.write(
        f"{VERSIONS[0]}_parent.sql",
        "-- migrate:up\nCREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
        "INSERT INTO parent VALUES (1);\n-- migrate:down\nDROP TABLE parent;\n",
    )
    project.write(
        f"{VERSIONS[1]}_child.sql",
        "-- migrate:up\nCREATE TABLE child (id INTEGER PRIMARY KEY,"
        " parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);\n"
        "INSERT INTO child VALUES (1, 1);\n-- migrate:down\nDROP TABLE child;\n",
    )
    project.write(
        f"{VERSIONS[2]}_drop.sql",
        "-- migrate:up\nSELECT 1;\nDROP TABLE parent;\n-- migrate:down\nSELECT 1;\n",
    )
    run = project.invoke("migrate.up", "--single-transaction")
    assert run.code == 2, run.err
    assert f"migrations/{VERSIONS[2]}_drop.sql:3" in run.err
    assert "DROP TABLE parent is refused: child (ON DELETE CASCADE) reference parent" in run.err
    assert project.schema() == [] and project.tracking() == {}
    assert lock_rows(project) == []


def test_a_streamed_migration_joins_the_transaction(tmp_path, db_url, monkeypatch):
    """Files over the streaming threshold are read as they are sent, in the same
    transaction (here every file counts as big); a failure still undoes all of them."""
    from migrate_tasks.drivers import open_driver
    from migrate_tasks.engine.core import Engine, RunOptions
    from migrate_tasks.errors import MigrationFailed

    monkeypatch.setattr("migrate_tasks.engine.catalogue.STREAM_THRESHOLD_BYTES", 0)
    project = Project(tmp_path / "app", db_url)
    four(project)
    with open_driver(db_url) as driver:
        engine = Engine(driver, project.migrations, "schema_migrations")
        with pytest.raises(MigrationFailed) as failed:
            engine.migrate("up", single_transaction=True, options=RunOptions())
        assert failed.value.version == VERSIONS[2] and failed.value.line == 3
        assert project.schema() == [] and project.tracking() == {}
        project.write(f"{VERSIONS[2]}_tags.sql", FIXED)
        engine = Engine(driver, project.migrations, "schema_migrations")
        outcome = engine.migrate("up", single_transaction=True, options=RunOptions())
        assert all(u.streamed for u in outcome.units)
        assert [r.version for r in outcome.results] == VERSIONS
    assert project.tracking() == dict.fromkeys(VERSIONS, "applied")
    assert lock_rows(project) == []


@pytest.mark.target("file")
def test_libsql_migrate_and_usage_errors(tmp_path):
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    four(project, third=FIXED)
    fleet = project.cli("up", "--single-transaction", "--fleet", str(tmp_path / "*.db"))
    assert fleet.code == 2 and "not with a fleet" in fleet.err
    run = project.cli("up", "--single-transaction", "--to", VERSIONS[1])
    assert run.code == 0, run.err
    assert project.tracking() == dict.fromkeys(VERSIONS[:2], "applied")
    assert project.cli("up", "--single-transaction").code == 0
    assert project.tracking() == dict.fromkeys(VERSIONS, "applied")


def test_without_the_lease_nothing_commits(tmp_path, db_url):
    """The transaction renews the lease and checks it first: a run whose lease expired and
    was taken over meanwhile applies nothing (one by one, it stops after a migration)."""
    from migrate_tasks.drivers import Step, open_driver
    from migrate_tasks.engine.core import Engine, RunOptions
    from migrate_tasks.engine.plan import plan_up
    from migrate_tasks.errors import LockLost

    project = Project(tmp_path / "app", db_url)
    four(project, third=FIXED)
    with open_driver(db_url) as driver:
        engine = Engine(driver, project.migrations, "schema_migrations")
        units = engine.prepare(plan_up(engine.status()), single=True)
        driver.run_atomic(engine.ledger.create_steps())
        with engine.locked(RunOptions()) as lock:
            driver.run_atomic(
                [Step("UPDATE schema_migrations_lock SET owner = 'someone else'")]
            )  # our lease expired and another run took it
            with pytest.raises(LockLost, match="nothing was applied"):
                engine.apply_single(units, lock)
    assert project.schema() == [] and project.tracking() == {}
    assert lock_rows(project) == [("someone else",)]  # theirs, untouched
