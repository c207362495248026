"""libSQL specifics (docs/libsql.md) against real targets: a local libSQL file and a real
sqld over HTTP and WebSocket.

Foreign keys are on in sqld and libSQL files, so a table rebuild needs
``foreign_keys:off``; ``ALTER COLUMN`` is followed by a re-check of existing rows;
vector indexes built on tables that already have rows must hold those rows; statements
sqld refuses are reported before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from migrate_tasks.drivers import Step, open_driver
from migrate_tasks.engine.core import Engine
from migrate_tasks.errors import DatabaseError, MigrationFailed, UsageError
from tests.support.project import Project

SETUP = """\
-- migrate:up
CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE child (
  id INTEGER PRIMARY KEY,
  parent_id INTEGER NOT NULL REFERENCES parent (id) ON DELETE CASCADE
);
CREATE TABLE child2 (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));
INSERT INTO parent (id, name) VALUES (1, 'one'), (2, 'two'), (3, NULL);
INSERT INTO child (id, parent_id) VALUES (10, 1), (11, 2);
INSERT INTO child2 (id, parent_id) VALUES (20, 3);

-- migrate:down
DROP TABLE child2;
DROP TABLE child;
DROP TABLE parent;
"""


def rebuild(header: str = "-- migrate:up foreign_keys:off", keep: str = "1 = 1") -> str:
    """The 12-step rebuild of parent: name becomes NOT NULL with a default."""
    return f"""\
{header}
CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
INSERT INTO parent_new (id, name) SELECT id, coalesce(name, '') FROM parent WHERE {keep};
DROP TABLE parent;
ALTER TABLE parent_new RENAME TO parent;

-- migrate:down
SELECT 1;
"""


#: Foreign keys off needs a PRAGMA before BEGIN on the transaction's connection: local
#: files, and our own Hrana batches over HTTP and over WebSocket (one stream).
EVERY_TARGET = [pytest.param(t, marks=pytest.mark.target(t), id=t) for t in ("file", "http", "ws")]
SERVERS = [pytest.param(t, marks=pytest.mark.target(t), id=t) for t in ("http", "ws")]


@pytest.fixture
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Like ``db_url``, for tests that run on some targets only."""
    if request.param == "file":
        return f"file:{tmp_path / 'test.db'}"
    server = request.getfixturevalue("sqld")
    return server.http_url if request.param == "http" else server.ws_url


CHILD_ROWS = [(10, 1), (11, 2)]
CHILD2_ROWS = [(20, 3)]


def state(project: Project) -> tuple:
    """Everything a refused or rolled-back migration must leave exactly as it was."""
    return (
        project.schema(),
        project.query("SELECT * FROM parent ORDER BY id"),
        project.query("SELECT * FROM child ORDER BY id"),
        project.query("SELECT * FROM child2 ORDER BY id"),
        project.tracking(),
    )


def project_with_parent(tmp_path: Path, db_url: str) -> Project:
    project = Project(tmp_path / "proj", db_url)
    project.write("001_setup.sql", SETUP)
    assert project.invoke("migrate.up").code == 0
    return project


# -- foreign keys --------------------------------------------------------------------------


@pytest.mark.parametrize("url", EVERY_TARGET, indirect=True)
def test_rebuild_with_foreign_keys_off_keeps_every_child_row(tmp_path: Path, url: str) -> None:
    project = project_with_parent(tmp_path, url)
    project.write("002_rebuild_parent.sql", rebuild())

    run = project.invoke("migrate.up")

    assert run.code == 0, run.err
    assert project.query("SELECT * FROM child ORDER BY id") == CHILD_ROWS
    assert project.query("SELECT * FROM child2 ORDER BY id") == CHILD2_ROWS
    assert project.query("SELECT * FROM parent ORDER BY id") == [
        (1, "one"), (2, "two"), (3, ""),
    ]  # fmt: skip
    [(sql,)] = project.query("SELECT sql FROM sqlite_schema WHERE name = 'parent'")
    assert "NOT NULL DEFAULT ''" in sql
    assert project.query("SELECT * FROM pragma_foreign_key_check") == []
    assert project.tracking() == {"001": "applied", "002": "applied"}
    # the children still reference the rebuilt table: the cascade still works
    project.query("DELETE FROM parent WHERE id = 1")
    assert project.query("SELECT * FROM child ORDER BY id") == [(11, 2)]


@pytest.mark.sqlite3_fallback
def test_drop_of_a_referenced_table_is_refused_before_anything_runs(
    tmp_path: Path, db_url: str
) -> None:
    project = project_with_parent(tmp_path, db_url)
    before = state(project)
    project.write("002_rebuild_parent.sql", rebuild(header="-- migrate:up"))

    run = project.invoke("migrate.up")

    assert run.code == 2, run.err
    err = " ".join(run.err.split())
    assert "002_rebuild_parent.sql:4: DROP TABLE parent is refused" in err
    assert "child (ON DELETE CASCADE), child2 (ON DELETE NO ACTION) reference parent" in err
    assert "'-- migrate:up foreign_keys:off'" in err
    assert state(project) == before
    assert [row[:3] for row in project.log()] == [("001", "up", "applied")]


@pytest.mark.parametrize("url", EVERY_TARGET, indirect=True)
def test_rebuild_that_loses_referenced_rows_is_rolled_back_naming_the_tables(
    tmp_path: Path, url: str
) -> None:
    project = project_with_parent(tmp_path, url)
    before = state(project)
    project.write("002_rebuild_parent.sql", rebuild(keep="id = 1"))  # loses 2 and 3

    run = project.invoke("migrate.up")

    assert run.code == 1, run.err
    err = " ".join(run.err.split())
    assert "002_rebuild_parent.sql:1: the foreign key check before COMMIT found rows" in err
    assert "child (1 row(s) referencing parent); child2 (1 row(s) referencing parent)" in err
    assert "nothing of this migration was applied" in err
    assert state(project) == before
    assert project.log()[-1][:3] == ("002", "up", "failed")


class Runner:
    """One driver, and a fresh engine per command, as each CLI run would have."""

    def __init__(self, url: str, directory: Path) -> None:
        self.driver = open_driver(url)
        self.directory = directory
        directory.mkdir(exist_ok=True)

    def write(self, name: str, text: str) -> Path:
        path = self.directory / name
        path.write_text(text)
        return path

    def migrate(self, direction: str, **kwargs: object) -> list[str]:
        engine = Engine(self.driver, self.directory, "schema_migrations")
        return [r.version for r in engine.migrate(direction, **kwargs).results]  # type: ignore[arg-type]

    def query(self, sql: str) -> list[tuple]:
        return self.driver.query(sql)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Callable[[str], Runner]]:
    opened: list[Runner] = []

    def make(url: str) -> Runner:
        opened.append(Runner(url, tmp_path / "m"))
        return opened[-1]

    yield make
    for r in opened:
        r.driver.close()


@pytest.mark.parametrize("url", EVERY_TARGET, indirect=True)
def test_streamed_rebuild_turns_foreign_keys_off_checks_and_restores_them(
    url: str, runner: Callable[[str], Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The streaming path (run_atomic_iter), forced for files of any size; over HTTP in
    requests (over WebSocket: batch messages) of two steps, so the switch, the check and
    the ROLLBACK span requests."""
    monkeypatch.setattr("migrate_tasks.engine.catalogue.STREAM_THRESHOLD_BYTES", 0)
    monkeypatch.setattr("migrate_tasks.drivers.http.HranaHttpDriver.chunk_max_steps", 2)
    monkeypatch.setattr("migrate_tasks.drivers.ws.WsDriver.chunk_max_steps", 2)
    db = runner(url)
    db.write("001_setup.sql", SETUP)
    broken = db.write("002_break.sql", rebuild(keep="id <> 3"))
    with pytest.raises(MigrationFailed) as failed:
        db.migrate("up")
    assert "child2 (1 row(s) referencing parent)" in str(failed.value)
    assert db.query("SELECT * FROM child2") == CHILD2_ROWS
    assert db.query("SELECT count(*) FROM parent") == [(3,)]
    broken.unlink()
    db.write("003_rebuild.sql", rebuild())
    assert db.migrate("up") == ["003"]
    assert db.query("SELECT * FROM child ORDER BY id") == CHILD_ROWS
    # on the same connection (local file) foreign keys are on again: the cascade works
    assert db.query("PRAGMA foreign_keys") == [(1,)]
    db.query("DELETE FROM parent WHERE id = 2")
    assert db.query("SELECT * FROM child ORDER BY id") == [(10, 1)]


@pytest.mark.parametrize("url", EVERY_TARGET, indirect=True)
def test_streamed_drop_of_a_referenced_table_is_refused_and_rolled_back(
    url: str, runner: Callable[[str], Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("migrate_tasks.engine.catalogue.STREAM_THRESHOLD_BYTES", 0)
    db = runner(url)
    db.write("001_setup.sql", SETUP)
    db.migrate("up")
    db.write(
        "002_drop.sql",
        "-- migrate:up\nINSERT INTO child2 VALUES (21, 1);\nDROP TABLE parent;\n"
        "-- migrate:down\nSELECT 1;\n",
    )
    with pytest.raises(UsageError, match=r"002_drop.sql:3: DROP TABLE parent is refused"):
        db.migrate("up")
    assert db.query("SELECT * FROM child2") == CHILD2_ROWS  # the INSERT was rolled back
    assert db.query("SELECT count(*) FROM parent") == [(3,)]


@pytest.mark.target("file")
def test_drops_are_allowed_once_every_referencing_table_is_gone(
    tmp_path: Path, runner: Callable[[str], Runner]
) -> None:
    """Children dropped first, self references, renames followed."""
    db = runner(f"file:{tmp_path / 'db.sqlite'}")
    db.write("001_setup.sql", SETUP)
    db.write(
        "002_tree.sql",
        "-- migrate:up\nCREATE TABLE tree (id INTEGER PRIMARY KEY, up INTEGER REFERENCES tree);\n"
        "INSERT INTO tree VALUES (1, NULL), (2, 1);\n-- migrate:down\nDROP TABLE tree;\n",
    )
    db.migrate("up")
    # SQLite rewrites the children's REFERENCES on a rename: parent_old is referenced now
    renamed = db.write(
        "003_rename.sql",
        "-- migrate:up\nALTER TABLE parent RENAME TO parent_old;\n"
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);\nDROP TABLE parent_old;\n"
        "-- migrate:down\nSELECT 1;\n",
    )
    with pytest.raises(UsageError, match=r"003_rename.sql:4: DROP TABLE parent_old .* child"):
        db.migrate("up")
    renamed.unlink()
    # transaction:false commits statement by statement: refused before the first one
    db.write("003_drop.sql", "-- migrate:up transaction:false\nSELECT 1;\nDROP TABLE parent;\n")
    with pytest.raises(UsageError, match=r"003_drop.sql:3: DROP TABLE parent is refused"):
        db.migrate("up")
    assert "003" not in dict(db.query("SELECT version, status FROM schema_migrations"))
    (tmp_path / "m" / "003_drop.sql").unlink()
    # 001's down drops the children before parent; 002 drops a self-referencing table
    assert db.migrate("down", all_=True) == ["002", "001"]
    tables = "SELECT name FROM sqlite_schema WHERE name NOT LIKE '%schema_migrations%'"
    assert db.query(tables) == []


@pytest.mark.target("file")
def test_the_check_names_a_parent_renamed_away_under_foreign_keys_off(
    tmp_path: Path, runner: Callable[[str], Runner]
) -> None:
    """Renaming the old table away rewrites the children's REFERENCES to it (SQLite 3.26+),
    so after dropping it they point nowhere: the check catches what the option allows."""
    db = runner(f"file:{tmp_path / 'db.sqlite'}")
    db.write("001_setup.sql", SETUP)
    db.write(
        "002_rename_away.sql",
        "-- migrate:up foreign_keys:off\nALTER TABLE parent RENAME TO parent_old;\n"
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);\n"
        "INSERT INTO parent SELECT * FROM parent_old;\nDROP TABLE parent_old;\n",
    )
    with pytest.raises(MigrationFailed) as failed:
        db.migrate("up")
    assert "child (2 row(s) referencing parent_old, a table that no longer exists)" in str(
        failed.value
    )
    assert db.query("SELECT name FROM sqlite_schema WHERE name = 'parent_old'") == []
    assert db.query("SELECT count(*) FROM parent") == [(3,)]


@pytest.mark.target("file")
def test_dry_run_shows_the_foreign_key_switch_around_the_transaction(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj", f"file:{tmp_path / 'db.sqlite'}")
    project.write("001_rebuild.sql", rebuild())
    run = project.invoke("migrate.up", "--dry-run")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    off, begin = (
        lines.index("PRAGMA foreign_keys=OFF;"),
        lines.index("BEGIN;", lines.index("PRAGMA foreign_keys=OFF;")),
    )
    guard = next(i for i, line in enumerate(lines) if "pragma_foreign_key_check" in line)
    commit = lines.index("COMMIT;", guard)
    assert off < begin < guard < commit < lines.index("PRAGMA foreign_keys=ON;")


# -- ALTER COLUMN ---------------------------------------------------------------------------

ALTER_SETUP = """\
-- migrate:up
CREATE TABLE alt (id INTEGER PRIMARY KEY, c);
INSERT INTO alt (id, c) VALUES (1, 5), (2, NULL), (3, 7);
CREATE TABLE st (id INTEGER PRIMARY KEY, v TEXT) STRICT;
INSERT INTO st (id, v) VALUES (1, 'not a number');
-- migrate:down
DROP TABLE st;
DROP TABLE alt;
"""


def test_alter_column_rechecks_existing_rows(db_url: str, runner: Callable[[str], Runner]) -> None:
    db = runner(db_url)
    db.write("001_setup.sql", ALTER_SETUP)
    db.migrate("up")
    schema_sql = "SELECT sql FROM sqlite_schema WHERE name IN ('alt', 'st') ORDER BY name"
    schema = db.query(schema_sql)
    cases = [
        ("ALTER TABLE alt ALTER COLUMN c TO c INTEGER NOT NULL", "NULL value in alt.c"),
        ("ALTER TABLE alt ALTER COLUMN c TO c INTEGER CHECK (c > 6)", "CHECK constraint"),
        ("ALTER TABLE st ALTER COLUMN v TO v INTEGER", "non-INTEGER value in st.v"),
        ("ALTER TABLE alt ALTER COLUMN c TO c REFERENCES st (id)", "missing rows in st"),
    ]
    for sql, found in cases:
        db.write("002_alter.sql", f"-- migrate:up\nSELECT 1;\n{sql};\n-- migrate:down\nSELECT 1;\n")
        with pytest.raises(MigrationFailed) as failed:
            db.migrate("up")
        assert (failed.value.line, failed.value.sql) == (3, sql)
        assert "existing rows do not satisfy the new column definition" in str(failed.value)
        assert found in str(failed.value)
        assert db.query(schema_sql) == schema  # rolled back
    # fix the rows first, in the same migration: it goes through, and the rule holds
    db.write(
        "002_alter.sql",
        "-- migrate:up\nUPDATE alt SET c = 0 WHERE c IS NULL;\n"
        "ALTER TABLE alt ALTER COLUMN c TO c INTEGER NOT NULL;\n-- migrate:down\nSELECT 1;\n",
    )
    assert db.migrate("up") == ["002"]
    with pytest.raises(DatabaseError, match="NOT NULL constraint failed"):
        db.driver.run_atomic([Step("INSERT INTO alt (id, c) VALUES (4, NULL)")])


# -- libSQL-only syntax ------------------------------------------------------------------

VECTORS = """\
-- migrate:up
CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT NOT NULL, emb F32_BLOB(3));
INSERT INTO docs (id, title, emb) VALUES
  (1, 'x axis', vector32('[1, 0, 0]')),
  (2, 'y axis', vector32('[0, 1, 0]')),
  (3, 'near x', vector32('[0.9, 0.2, 0]'));
-- migrate:down
DROP TABLE docs;
"""

VECTOR_INDEX = """\
-- migrate:up
CREATE INDEX docs_emb ON docs (libsql_vector_idx(emb, 'metric=cosine'));
-- migrate:down
DROP INDEX docs_emb;
"""

SYNTAX = """\
-- migrate:up
CREATE TABLE events (payload TEXT NOT NULL) RANDOM ROWID;
INSERT INTO events (payload) VALUES ('a'), ('b');
CREATE TABLE prices (
  id INTEGER PRIMARY KEY,
  net INTEGER NOT NULL,
  gross INTEGER GENERATED ALWAYS AS (net * 2) STORED,
  label TEXT AS ('#' || id) VIRTUAL
) STRICT;
INSERT INTO prices (id, net) VALUES (1, 10);
CREATE VIRTUAL TABLE notes_fts USING fts5(body);
INSERT INTO notes_fts (body) VALUES ('libsql migrations'), ('plain sqlite');
-- migrate:down
DROP TABLE notes_fts;
DROP TABLE prices;
DROP TABLE events;
"""


def test_vector_index_on_a_table_with_rows_holds_them(tmp_path: Path, db_url: str) -> None:
    """sqld builds an empty index if the CREATE INDEX was ever ``describe``d; we never do."""
    project = Project(tmp_path / "proj", db_url)
    project.write("001_docs.sql", VECTORS)
    project.write("002_docs_index.sql", VECTOR_INDEX)
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    nearest = "SELECT id FROM vector_top_k('docs_emb', vector32('[1, 0, 0]'), 2)"
    assert project.query(nearest) == [(1,), (3,)]
    # and rows added later go in too
    project.query("INSERT INTO docs (id, title, emb) VALUES (4, 'x again', vector32('[1, 0, 0]'))")
    assert sorted(project.query(nearest)) == [(1,), (4,)]


def test_random_rowid_strict_generated_columns_and_fts5(
    db_url: str, runner: Callable[[str], Runner]
) -> None:
    db = runner(db_url)
    db.write("001_syntax.sql", SYNTAX)
    for _ in range(2):  # up, down, up, down
        assert db.migrate("up") == ["001"]
        rowids = [r[0] for r in db.query("SELECT rowid FROM events")]
        assert len(rowids) == 2 and min(rowids) > 2  # random, not 1 and 2
        assert db.query("SELECT gross, label FROM prices") == [(20, "#1")]
        with pytest.raises(DatabaseError, match="cannot store TEXT value in INTEGER"):
            db.driver.run_atomic([Step("INSERT INTO prices (id, net) VALUES (2, 'x')")])
        match = "SELECT body FROM notes_fts WHERE notes_fts MATCH 'libsql'"
        assert db.query(match) == [("libsql migrations",)]
        assert db.migrate("down") == ["001"]
        assert db.query("SELECT name FROM sqlite_schema WHERE name = 'prices'") == []


# -- statements a target cannot run ----------------------------------------------------------


@pytest.mark.parametrize("url", SERVERS, indirect=True)
@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("VACUUM", "sqld refuses VACUUM"),
        ("CREATE TEMP TABLE scratch (x)", "sqld refuses CREATE TEMP"),
        ("ATTACH DATABASE 'other.db' AS other", "sqld refuses ATTACH"),
        ("PRAGMA journal_mode = WAL", "sqld refuses PRAGMA journal_mode=WAL"),
    ],
)
def test_statements_sqld_refuses_are_reported_before_anything_runs(
    tmp_path: Path, url: str, sql: str, what: str
) -> None:
    project = Project(tmp_path / "proj", url)
    project.write("001_first.sql", "-- migrate:up\nCREATE TABLE first (x);\n")
    project.write("002_server.sql", f"-- migrate:up\nCREATE TABLE t (x);\n\n{sql};\n")
    run = project.invoke("migrate.up")
    assert run.code == 2, run.err
    assert f"002_server.sql:4: {what}" in run.err
    assert project.query("SELECT name FROM sqlite_schema") == []  # not even 001 ran


@pytest.mark.target("file")
def test_the_same_statements_run_on_a_local_file(
    tmp_path: Path, runner: Callable[[str], Runner]
) -> None:
    db = runner(f"file:{tmp_path / 'db.sqlite'}")
    db.write(
        "001_local.sql",
        "-- migrate:up\nCREATE TEMP TABLE scratch (x);\nINSERT INTO scratch VALUES (1);\n"
        "CREATE TABLE kept AS SELECT x FROM scratch;\n"
        f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other;\n",
    )
    db.write("002_vacuum.sql", "-- migrate:up\nVACUUM;\n")
    with pytest.raises(UsageError, match=r"002_vacuum.sql:2: VACUUM cannot run inside a tra"):
        db.migrate("up")
    assert db.query("SELECT name FROM sqlite_schema WHERE name = 'kept'") == []
    db.write(
        "002_vacuum.sql", "-- migrate:up transaction:false\nVACUUM;\nPRAGMA journal_mode = WAL;\n"
    )
    assert db.migrate("up") == ["001", "002"]
    assert db.query("SELECT x FROM kept") == [(1,)]
    assert db.query("PRAGMA journal_mode") == [("wal",)]


@pytest.mark.target("file")
def test_setting_foreign_keys_in_a_migration_points_to_the_option(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj", f"file:{tmp_path / 'db.sqlite'}")
    project.write("001_fk.sql", "-- migrate:up\nPRAGMA foreign_keys = OFF;\nSELECT 1;\n")
    run = project.invoke("migrate.up")
    assert run.code == 2, run.err
    assert "001_fk.sql:2: PRAGMA foreign_keys cannot be set in a migration" in run.err
    assert "foreign_keys:off" in run.err
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.sqlite3_fallback
def test_foreign_keys_on_as_dbmate_folders_start_runs_as_written(
    tmp_path: Path, db_url: str
) -> None:
    """Many dbmate folders begin with ``PRAGMA foreign_keys = ON;``: foreign keys are on in
    every connection the tool opens, so it changes nothing and runs as written."""
    project = Project(tmp_path / "proj", db_url)
    project.write(
        "001_fk.sql",
        "-- migrate:up\nPRAGMA foreign_keys = ON;\nCREATE TABLE p (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE c (p INTEGER REFERENCES p (id));\n"
        "-- migrate:down\nDROP TABLE c;\nDROP TABLE p;\n",
    )
    assert project.invoke("migrate.validate").code == 0
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    assert project.tracking() == {"001": "applied"}
    with pytest.raises(DatabaseError, match="FOREIGN KEY"):
        project.query("INSERT INTO c VALUES (42)")
