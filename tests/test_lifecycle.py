"""The whole lifecycle through real ``invoke`` processes, against every database target.

Each test gets a fresh database (``db_url``: a local libSQL file, or a fresh sqld over
HTTP or WebSocket) and a temporary project with its own tasks.py.
"""

from __future__ import annotations

import re

import pytest

from tests.support.project import Project

A = """\
-- migrate:up
CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
CREATE INDEX accounts_email ON accounts (email);

-- migrate:down
DROP TABLE accounts;
"""

B = """\
-- migrate:up
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  body TEXT NOT NULL DEFAULT 'semi;colon -- not a comment',
  touched INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER notes_touch AFTER UPDATE OF body ON notes
BEGIN
  UPDATE notes SET touched = touched + 1 WHERE id = NEW.id;
  SELECT 1;
END;

-- migrate:down
DROP TRIGGER notes_touch;
DROP TABLE notes;
"""

C = """\
-- migrate:up
ALTER TABLE accounts ADD COLUMN name TEXT NOT NULL DEFAULT '';
INSERT INTO accounts (email, name) VALUES ('a@example.com', 'A; with semicolon');

-- migrate:down
DELETE FROM accounts WHERE email = 'a@example.com';
ALTER TABLE accounts DROP COLUMN name;
"""

BROKEN = """\
-- migrate:up
CREATE TABLE half (id INTEGER PRIMARY KEY);
INSERT INTO half (id) VALUES (1);
INSERT INTO no_such_table VALUES (1);
CREATE TABLE never (id INTEGER);

-- migrate:down
DROP TABLE half;
"""


@pytest.fixture
def project(tmp_path, db_url) -> Project:
    return Project(tmp_path / "app", db_url)


def create(project: Project, name: str, body: str) -> str:
    run = project.invoke("migrate.create", name)
    assert run.code == 0, run.err
    path = project.root / run.out.strip()
    assert path.parent == project.migrations
    assert re.fullmatch(rf"\d{{14}}_{name}\.sql", path.name)
    assert "-- migrate:up" in path.read_text() and "-- migrate:down" in path.read_text()
    path.write_text(body)
    return path.name.split("_", 1)[0]


def test_full_lifecycle(project: Project):
    va, vb, vc = (
        create(project, "accounts", A),
        create(project, "notes", B),
        create(project, "names", C),
    )
    assert va < vb < vc  # a clash in the same second takes the next free second

    status = project.invoke("migrate.status")
    assert status.code == 0, status.err
    assert "0 of 3 migrations applied" in status.out
    assert project.invoke("migrate.status", "--check").code == 3
    empty = project.schema()

    run = project.invoke("migrate.up", "--step", "1")
    assert run.code == 0, run.err
    assert "applied 1 migration" in run.out
    assert f"applied {va}_accounts in" in run.err  # one log line per migration, with duration
    after_a = project.schema()
    assert {row[1] for row in after_a} == {"accounts", "accounts_email"}

    dry = project.invoke("migrate.up", "--dry-run")
    assert dry.code == 0, dry.err
    assert "CREATE TRIGGER notes_touch" in dry.out and "ALTER TABLE accounts ADD COLUMN" in dry.out
    # the exact plan, in order: take the lock, one transaction per migration, release it
    blocks = [b for b in dry.out.split("COMMIT;\n") if b.strip()]
    assert len(blocks) == 4 and all(b.lstrip().startswith("BEGIN;") for b in blocks)
    assert 'INSERT INTO "schema_migrations_lock"' in blocks[0]
    assert "CREATE TABLE notes" in blocks[1] and "ALTER TABLE accounts" in blocks[2]
    assert all('INSERT INTO "schema_migrations" ' in b for b in blocks[1:3])
    assert 'DELETE FROM "schema_migrations_lock"' in blocks[3]
    assert project.schema() == after_a
    assert project.tracking() == {va: "applied"}

    run = project.invoke("migrate.up", "--to", vb)
    assert run.code == 0, run.err
    after_b = project.schema()
    assert "notes_touch" in {row[1] for row in after_b}

    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    after_c = project.schema()
    assert project.query("SELECT email, name FROM accounts") == [
        ("a@example.com", "A; with semicolon")
    ]
    assert project.invoke("migrate.status", "--check").code == 0
    doc = project.invoke("migrate.status", "--json").json
    assert [m["state"] for m in doc["migrations"]] == ["applied"] * 3
    assert doc["summary"] == {"total": 3, "applied": 3}
    assert all(
        isinstance(m["execution_ms"], int) and m["applied_at"].endswith("Z")
        for m in doc["migrations"]
    )

    # the trigger body was kept whole
    project.query("INSERT INTO notes (account_id, body) VALUES (1, 'x')")
    project.query("UPDATE notes SET body = 'y'")
    assert project.query("SELECT touched FROM notes") == [(1,)]
    project.query("DELETE FROM notes")

    assert project.invoke("migrate.up").out.strip() == "nothing to apply"

    run = project.invoke("migrate.down")
    assert run.code == 0, run.err
    assert project.schema() == after_b
    assert project.tracking() == {va: "applied", vb: "applied", vc: "rolled_back"}
    assert (
        project.invoke("migrate.status", "--json").json["migrations"][2]["state"] == "rolled_back"
    )

    refused = project.invoke("migrate.down", "--step", "2")
    assert refused.code == 2 and "--all" in refused.err
    assert project.schema() == after_b

    run = project.invoke("migrate.down", "--to", va)
    assert run.code == 0, run.err
    assert project.schema() == after_a

    run = project.invoke("migrate.down", "--all")
    assert run.code == 0, run.err
    assert project.schema() == empty
    assert project.tracking() == {va: "rolled_back", vb: "rolled_back", vc: "rolled_back"}

    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert project.schema() == after_c
    assert set(project.tracking().values()) == {"applied"}

    log = project.log()
    assert [(v, action, outcome) for v, action, outcome, *_ in log] == [
        (va, "up", "applied"),
        (vb, "up", "applied"),
        (vc, "up", "applied"),
        (vc, "down", "rolled_back"),
        (vb, "down", "rolled_back"),
        (va, "down", "rolled_back"),
        (va, "up", "applied"),
        (vb, "up", "applied"),
        (vc, "up", "applied"),
    ]
    for _v, _a, _o, error, duration, started, finished in log:
        assert error is None and duration >= 0 and started <= finished


def test_failure_leaves_nothing_behind(project: Project):
    va = create(project, "accounts", A)
    vb = create(project, "broken", BROKEN)
    vc = create(project, "names", C)
    before = project.schema()

    run = project.invoke("migrate.up")
    assert run.code == 1
    assert "Traceback" not in run.err
    message = run.err
    assert f"migration {vb} (up) failed at migrations/{vb}_broken.sql:4" in message
    assert "no such table: no_such_table" in message
    assert "INSERT INTO no_such_table VALUES (1)" in message
    assert "nothing of this migration was applied" in message

    names = {row[1] for row in project.schema()}
    assert "accounts" in names  # the migration before it stays applied
    assert "half" not in names and "never" not in names
    assert before != project.schema()
    assert project.tracking() == {
        va: "applied"
    }  # untouched for the failed one, later ones not tried
    failed = [row for row in project.log() if row[2] == "failed"]
    assert len(failed) == 1 and failed[0][0] == vb and "no_such_table" in failed[0][3]
    assert vc not in {row[0] for row in project.log()}


def test_libsql_migrate_program(project: Project):
    create(project, "accounts", A)
    create(project, "notes", B)
    (project.root / "tasks.py").unlink()  # the console script needs no tasks.py
    run = project.cli("up", "--step", "1")
    assert run.code == 0, run.err
    status = project.cli("status", "--json")
    assert [m["state"] for m in status.json["migrations"]] == ["applied", "pending"]
    assert project.cli("--version").out.startswith("libsql-migrate")


DEFERRED_FK = """\
-- migrate:up
PRAGMA defer_foreign_keys = ON;
INSERT INTO notes (account_id, body) VALUES (424242, 'orphan');
CREATE TABLE after_orphan (id INTEGER);

-- migrate:down
DROP TABLE after_orphan;
"""


def test_failure_at_commit_is_reported_and_rolled_back(project: Project):
    create(project, "accounts", A)
    create(project, "notes", B)
    vc = create(project, "orphan", DEFERRED_FK)
    run = project.invoke("migrate.up")
    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    assert f"migration {vc} (up) failed at migrations/{vc}_orphan.sql" in run.err
    assert "COMMIT failed" in run.err and "FOREIGN KEY constraint failed" in run.err
    assert project.query("SELECT count(*) FROM notes") == [(0,)]
    assert "after_orphan" not in {row[1] for row in project.schema()}
    assert vc not in project.tracking()
    assert [row[2] for row in project.log() if row[0] == vc] == ["failed"]
