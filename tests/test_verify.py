"""``invoke migrate.verify`` through real subprocesses: up all, then down/up/down each.

Good migrations pass on every target; each kind of broken down section is caught,
named, and shown as a diff of the canonical schema; the database a user configured is
never touched; a database that is not empty is refused unless ``--force``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import Project

ACCOUNTS = """\
-- migrate:up
CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
CREATE INDEX accounts_email ON accounts (email);
CREATE TABLE seeds (key TEXT PRIMARY KEY);

-- migrate:down
DROP TABLE seeds;
DROP TABLE accounts;
"""

NAMES = """\
-- migrate:up
ALTER TABLE accounts ADD COLUMN name TEXT NOT NULL DEFAULT '';
CREATE VIEW account_names AS SELECT id, name FROM accounts;
CREATE TRIGGER accounts_trim AFTER INSERT ON accounts
BEGIN
  UPDATE accounts SET name = trim(NEW.name) WHERE id = NEW.id;
END;
INSERT INTO seeds (key) VALUES ('names');

-- migrate:down
DELETE FROM seeds WHERE key = 'names';
DROP TRIGGER accounts_trim;
DROP VIEW account_names;
ALTER TABLE accounts DROP COLUMN name;
"""

NOTES = """\
-- migrate:up
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);

-- migrate:down
DROP TABLE notes;
"""

# A table rebuild both ways: the down types the original table back with other spacing,
# case and quoting (and RENAME stores it as CREATE TABLE "notes"): still the same schema.
NOTES_STRICT = """\
-- migrate:up
CREATE TABLE notes_new (id INTEGER PRIMARY KEY, body TEXT NOT NULL DEFAULT '');
INSERT INTO notes_new (id, body) SELECT id, coalesce(body, '') FROM notes;
DROP TABLE notes;
ALTER TABLE notes_new RENAME TO notes;

-- migrate:down
CREATE TABLE "notes_old" ( "id" integer primary key,
    body text ) ;
INSERT INTO notes_old SELECT * FROM notes;
DROP TABLE notes;
ALTER TABLE notes_old RENAME TO notes;
"""

INDEX_LEFT = """\
-- migrate:up
CREATE INDEX accounts_name ON accounts (name);
CREATE TABLE audit (id INTEGER PRIMARY KEY);

-- migrate:down
DROP TABLE audit;
"""

COLUMN_LEFT = """\
-- migrate:up
ALTER TABLE accounts ADD COLUMN nickname TEXT;
CREATE TABLE audit (id INTEGER PRIMARY KEY);

-- migrate:down
DROP TABLE audit;
"""

NOT_REAPPLIABLE = """\
-- migrate:up
CREATE TABLE flags (id INTEGER PRIMARY KEY);
INSERT INTO seeds (key) VALUES ('flags');

-- migrate:down
DROP TABLE flags;
"""

NO_DOWN = """\
-- migrate:up
CREATE TABLE orphan (id INTEGER);
"""


def good_project(root: Path, url: str) -> Project:
    project = Project(root, url)
    project.write("20250101000001_accounts.sql", ACCOUNTS)
    project.write("20250101000002_names.sql", NAMES)
    project.write("20250101000003_notes.sql", NOTES)
    project.write("20250101000004_notes_strict.sql", NOTES_STRICT)
    return project


def test_verify_passes_good_migrations_and_leaves_them_applied(tmp_path, db_url):
    project = good_project(tmp_path / "app", db_url)
    run = project.invoke("migrate.verify", "--url", db_url, "--json")
    assert run.code == 0, run.err
    doc = run.json
    assert doc["schema_version"] == 1 and doc["ok"] is True and doc["problems"] == []
    assert doc["temporary"] is False and doc["target"]
    assert [m["name"] for m in doc["migrations"]] == ["accounts", "names", "notes", "notes_strict"]
    for m in doc["migrations"]:
        assert m["verified"] is True
        assert all(m[k] >= 0 for k in ("up_ms", "down_ms", "reapply_ms"))
    assert run.err.count("rolled back 20250101000001_accounts") == 2  # down, up, down
    # it ends with everything applied again, and status is clean
    assert project.invoke("migrate.status", "--check").code == 0
    assert {row[1] for row in project.schema()} >= {"accounts", "account_names", "notes"}


def test_verify_by_default_uses_a_temporary_file_never_the_configured_database(tmp_path):
    configured = tmp_path / "real.db"
    project = good_project(tmp_path / "app", f"file:{configured}")
    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    run = project.invoke("migrate.verify", TMPDIR=str(scratch_parent))
    assert run.code == 0, run.err
    assert "verified 4 migrations on a temporary local database" in run.out
    assert "ok   20250101000002_names: up" in run.out
    assert not configured.exists()  # LIBSQL_URL pointed here: not even created
    assert list(scratch_parent.iterdir()) == []  # the scratch folder is gone


def test_verify_names_a_down_that_leaves_an_index_and_shows_the_diff(tmp_path, db_url):
    project = good_project(tmp_path / "app", db_url)
    project.write("20250101000005_index_left.sql", INDEX_LEFT)
    run = project.invoke("migrate.verify", "--url", db_url)
    assert run.code == 3, run.err
    assert "FAIL 20250101000005_index_left: its down section does not undo its up" in run.out
    assert "--- schema before 20250101000005_index_left up" in run.out
    assert "+++ schema after 20250101000005_index_left up, then down" in run.out
    added = [line for line in run.out.splitlines() if line.startswith("+C")]
    assert added == ["+CREATE INDEX accounts_name ON accounts(name);"]
    assert "verify: 20250101000005_index_left" in run.err
    assert "verified 0 of 5 migrations" in run.out


def test_verify_names_a_down_that_leaves_a_column(tmp_path):
    project = good_project(tmp_path / "app", f"file:{tmp_path / 'unused.db'}")
    project.write("20250101000005_column_left.sql", COLUMN_LEFT)
    run = project.invoke("migrate.verify", "--json")
    assert run.code == 3, run.err
    (problem,) = run.json["problems"]
    assert problem["kind"] == "down_mismatch"
    assert (problem["version"], problem["name"]) == ("20250101000005", "column_left")
    assert "+  nickname TEXT" in problem["diff"].splitlines()  # names and types as stored
    assert problem["message"].endswith(
        "table accounts differs:\n"
        "    column nickname: none in before up, `nickname TEXT` in after up, down"
    )
    assert [m["verified"] for m in run.json["migrations"]] == [False] * 5


def test_verify_catches_an_up_that_fails_after_its_own_down(tmp_path):
    project = good_project(tmp_path / "app", f"file:{tmp_path / 'unused.db'}")
    project.write("20250101000005_flags.sql", NOT_REAPPLIABLE)
    run = project.invoke("migrate.verify", "--json")
    assert run.code == 3, run.err
    (problem,) = run.json["problems"]
    assert problem["kind"] == "reapply_failed" and problem["version"] == "20250101000005"
    assert "UNIQUE constraint failed: seeds.key" in problem["message"]
    assert problem["diff"] == ""  # the schema was undone; the data was not


# A down that rebuilds a table with its constraints in another order (as Alembic's batch
# mode does) restores the same table; one that brings it back as "Links" does not.
LINKS = """\
-- migrate:up
CREATE TABLE links (id INTEGER PRIMARY KEY, account_id INTEGER, note_id INTEGER,
  FOREIGN KEY (account_id) REFERENCES accounts (id), FOREIGN KEY (note_id) REFERENCES notes (id),
  UNIQUE (account_id, note_id));

-- migrate:down
DROP TABLE links;
"""

LINKS_WEIGHT = """\
-- migrate:up
ALTER TABLE links ADD COLUMN weight INTEGER;

-- migrate:down
CREATE TABLE links_old (id INTEGER PRIMARY KEY, account_id INTEGER, note_id INTEGER,
  UNIQUE (account_id, note_id), FOREIGN KEY (note_id) REFERENCES notes (id),
  FOREIGN KEY (account_id) REFERENCES accounts (id));
INSERT INTO links_old (id, account_id, note_id) SELECT id, account_id, note_id FROM links;
DROP TABLE links;
ALTER TABLE links_old RENAME TO {name};
"""


def test_verify_compares_constraints_as_a_set_and_names_exactly(tmp_path):
    project = good_project(tmp_path / "app", f"file:{tmp_path / 'unused.db'}")
    project.write("20250101000005_links.sql", LINKS)
    weight = project.write("20250101000006_links_weight.sql", LINKS_WEIGHT.format(name="links"))
    run = project.invoke("migrate.verify")
    assert run.code == 0, run.out + run.err

    weight.write_text(LINKS_WEIGHT.format(name="Links"))
    run = project.invoke("migrate.verify", "--json")
    assert run.code == 3, run.err
    (problem,) = run.json["problems"]
    assert problem["kind"] == "down_mismatch" and problem["version"] == "20250101000006"
    assert problem["message"].endswith(
        "table links differs:\n    name: `links` in before up, `Links` in after up, down"
    )
    assert "+CREATE TABLE Links (" in problem["diff"].splitlines()


def test_require_down_refuses_a_migration_without_down_before_touching_anything(tmp_path):
    target = tmp_path / "scratch.db"
    project = good_project(tmp_path / "app", "file:unused.db")
    project.write("20250101000005_no_down.sql", NO_DOWN)
    run = project.invoke("migrate.verify", "--url", f"file:{target}", "--require-down")
    assert run.code == 3
    assert "no down statements" in run.out and "20250101000005_no_down" in run.out
    assert not target.exists()


COMMENT_ONLY_DOWN = """\
-- migrate:up
ALTER TABLE accounts ADD COLUMN nickname TEXT;
-- migrate:down
-- irreversible: SQLite cannot drop this column on old versions
"""


def test_irreversible_migrations_are_applied_and_the_others_still_verified(tmp_path, db_url):
    """dbmate folders have deliberate irreversible migrations (an empty or comment-only
    down section): verify reports them, and still proves every reversible migration,
    the older ones on the database rebuilt from empty up to them."""
    project = good_project(tmp_path / "app", db_url)
    project.write("20250101000002_names.sql", COMMENT_ONLY_DOWN)  # in the middle
    project.write("20250101000005_no_down.sql", NO_DOWN)  # the newest
    run = project.invoke("migrate.verify", "--url", db_url, "--json")
    assert run.code == 0, run.err + run.out
    doc = run.json
    assert doc["ok"] is True and doc["problems"] == []
    states = {m["name"]: (m["verified"], m["irreversible"]) for m in doc["migrations"]}
    assert states == {
        "accounts": (True, False),
        "names": (False, True),
        "notes": (True, False),
        "notes_strict": (True, False),
        "no_down": (False, True),
    }
    assert "rebuilding the database from empty up to 20250101000001_accounts" in run.err
    assert project.invoke("migrate.status", "--check").code == 0  # all applied again
    text = project.invoke("migrate.verify", "--url", db_url, "--force")
    assert text.code == 0, text.err
    assert "skip 20250101000002_names: up " in text.out
    assert "verified 3 of 5 migrations" in text.out and "2 irreversible" in text.out


def test_a_broken_down_older_than_an_irreversible_migration_is_still_found(tmp_path, db_url):
    project = Project(tmp_path / "app", db_url)
    project.write("20250101000001_accounts.sql", ACCOUNTS)
    project.write("20250101000002_left.sql", COLUMN_LEFT)  # its down leaves the column
    project.write("20250101000003_no_down.sql", NO_DOWN)
    run = project.invoke("migrate.verify", "--url", db_url, "--json")
    assert run.code == 3
    problem = run.json["problems"][0]
    assert problem["kind"] == "down_mismatch" and problem["name"] == "left"


def test_verify_refuses_a_database_that_is_not_empty_unless_force(tmp_path, db_url):
    project = good_project(tmp_path / "app", db_url)
    assert project.invoke("migrate.up", "--to", "20250101000001").code == 0
    project.query("INSERT INTO accounts (email) VALUES ('keep@example.com')")

    refused = project.invoke("migrate.verify", "--url", db_url)
    assert refused.code == 2
    assert "is not empty" in refused.err and "--force" in refused.err
    assert project.tracking() == {"20250101000001": "applied"}  # untouched
    assert project.query("SELECT email FROM accounts") == [("keep@example.com",)]

    forced = project.invoke("migrate.verify", "--url", db_url, "--force")
    assert forced.code == 0, forced.err
    assert project.query("SELECT count(*) FROM accounts") == [(0,)]
    assert set(project.tracking().values()) == {"applied"} and len(project.tracking()) == 4


def test_verify_force_needs_an_explicit_url(tmp_path):
    project = good_project(tmp_path / "app", f"file:{tmp_path / 'real.db'}")
    run = project.invoke("migrate.verify", "--force")
    assert run.code == 2 and "needs --url" in run.err
    assert not (tmp_path / "real.db").exists()


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("v20250101000005_bad.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n"),
        ("20250101000005_twice.sql", "-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n"),
    ],
    ids=["bad-name", "two-up-sections"],
)
def test_verify_stops_on_a_malformed_file_with_exit_2(tmp_path, filename, text):
    project = good_project(tmp_path / "app", "file:unused.db")
    project.write(filename, text)
    run = project.invoke("migrate.verify", "--json")
    assert run.code == 2, run.err
    assert f"migrations/{filename}" in run.err
    assert run.out == ""  # not a verification result: nothing ran
