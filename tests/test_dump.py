"""``invoke migrate.dump`` (schema.sql for review) and the one normaliser it shares with verify.

The normaliser is tested on plain rows; the task through real subprocesses against
every target: stable bytes, a fixed order, no tracking tables, the applied versions in
a trailing comment, ``--check`` exits 3 on drift and writes nothing.
"""

from __future__ import annotations

import json
import sqlite3

import libsql
import pytest

from migrate_tasks.drivers import open_driver
from migrate_tasks.drivers.base import Step
from migrate_tasks.ops.dump import APPLIED_PREFIX, render_schema
from migrate_tasks.ops.schema import read_schema, schema_objects
from migrate_tasks.sql.keywords import FALLBACK, KEYWORDS, RESERVED
from migrate_tasks.sql.normalise import normalise_sql
from tests.support.project import Project

USERS = """\
-- migrate:up
CREATE TABLE users (
  id INTEGER PRIMARY KEY,   -- comments are not schema
  email TEXT NOT NULL UNIQUE
) STRICT;
CREATE INDEX users_email ON users (email);
CREATE TABLE "Audit" (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT DEFAULT 'a;b');
INSERT INTO users (email) VALUES ('data@example.com');

-- migrate:down
DROP TABLE "Audit";
DROP TABLE users;
"""

POSTS = """\
-- migrate:up
CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), title TEXT);
CREATE VIEW post_titles AS SELECT id, title FROM posts;
CREATE TRIGGER posts_upper AFTER INSERT ON posts
BEGIN
  UPDATE posts SET title = upper(NEW.title) WHERE id = NEW.id;
END;
CREATE INDEX posts_user ON posts (user_id);

-- migrate:down
DROP TABLE posts;
DROP VIEW post_titles;
"""

TAGS = """\
-- migrate:up
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT);

-- migrate:down
DROP TABLE tags;
"""

EXPECTED = """\
-- Schema of the migrated database, written by `invoke migrate.dump` (do not edit).
-- Tables, then indexes, triggers and views, each sorted by name; no data.

CREATE TABLE Audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  note TEXT DEFAULT 'a;b'
);

CREATE TABLE posts (
  id INTEGER PRIMARY KEY,
  user_id INTEGER REFERENCES users(id),
  title TEXT
);

CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE
) STRICT;

CREATE INDEX posts_user ON posts(user_id);

CREATE INDEX users_email ON users(email);

CREATE TRIGGER posts_upper AFTER INSERT ON posts
BEGIN
  UPDATE posts SET title = upper(NEW.title) WHERE id = NEW.id;
END;

CREATE VIEW post_titles AS SELECT id, title FROM posts;

-- migrate_tasks applied: 20250101000001, 20250101000002
"""


# -- the normaliser, on plain data ----------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "rewritten"),
    [
        (
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)",
            'create   table "users"(\n "id" integer primary key, -- note\n Email /* c */ text\n)',
        ),
        ("CREATE INDEX i ON t (a DESC)", "CREATE INDEX [i] ON `t`(a desc)"),
        ("CREATE VIEW v AS SELECT a.x FROM a", 'CREATE VIEW "v" AS SELECT "a" . "x" FROM a;'),
        ("CREATE TABLE t (n INTEGER DEFAULT -1)", "CREATE TABLE t(n INTEGER DEFAULT - 1)"),
    ],
)
def test_the_normaliser_ignores_spacing_comments_keyword_case_and_safe_quoting(written, rewritten):
    assert normalise_sql(written, fold_case=True) == normalise_sql(rewritten, fold_case=True)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("CREATE TABLE t (a TEXT DEFAULT 'x')", "CREATE TABLE t (a TEXT DEFAULT 'X')"),
        ('CREATE TABLE t ("select" TEXT)', "CREATE TABLE t (selected TEXT)"),
        ("CREATE TABLE t (a TEXT)", "CREATE TABLE t (a TEXT NOT NULL)"),
        ("CREATE INDEX i ON t (a)", "CREATE UNIQUE INDEX i ON t (a)"),
    ],
)
def test_the_normaliser_keeps_every_real_difference(one, other):
    assert normalise_sql(one, fold_case=True) != normalise_sql(other, fold_case=True)


def test_a_keyword_used_as_a_name_stays_quoted_and_dump_keeps_identifier_case():
    sql = 'CREATE TABLE "Order" ("select" TEXT, "two words" INT, CamelCase TEXT)'
    assert normalise_sql(sql) == (
        'CREATE TABLE "Order" (\n  "select" TEXT,\n  "two words" INT,\n  CamelCase TEXT\n)'
    )
    assert "camelcase text" in normalise_sql(sql, fold_case=True)
    assert normalise_sql('CREATE TABLE t (a DEFAULT "true")') != normalise_sql(
        "CREATE TABLE t (a DEFAULT true)"
    )


def test_the_reserved_and_fallback_keyword_lists_are_libsqls():
    """A fallback word is a valid table and column name on the engine; a reserved one is not."""
    conn = libsql.connect(":memory:")
    for word in sorted(KEYWORDS):
        try:
            conn.execute(f"CREATE TABLE t_{word} ({word} INTEGER, y INTEGER)")
            valid = True
        except ValueError:
            valid = False
        assert valid == (word in FALLBACK), word
    assert FALLBACK == KEYWORDS - RESERVED


#: Statements using a name in every place a name can go (``{w}`` is the word).
NAME_PLACES = [
    "CREATE TABLE {w} ({w} INTEGER PRIMARY KEY, x TEXT, CONSTRAINT {w} UNIQUE (x))",
    "CREATE TABLE checked (id INT, {w} INT CHECK ({w} > 0), UNIQUE ({w}, id))",
    "CREATE TABLE child (id INT, {w} INT REFERENCES {w}({w}) ON DELETE CASCADE,"
    " FOREIGN KEY ({w}) REFERENCES {w} ({w}) ON UPDATE NO ACTION)",
    "CREATE INDEX i1 ON child ({w} DESC, id)",
    "CREATE INDEX {w} ON child ({w}) WHERE {w} > 1",
    "CREATE VIEW v1 AS SELECT {w}, {w}.{w} AS a FROM {w} WHERE {w} IS NOT NULL ORDER BY {w}",
    "CREATE VIEW v2 ({w}) AS SELECT x FROM {w}",
    "CREATE VIEW v3 AS SELECT CASE WHEN {w} > 0 THEN {w} ELSE -{w} END AS c FROM {w}",
    "CREATE VIEW v4 AS SELECT {w} AS {w}, coalesce({w}, 0) + 1 AS n FROM {w} WHERE {w} LIKE 'x'"
    " OR {w} BETWEEN 1 AND 2 OR NOT {w} GROUP BY {w} ORDER BY {w} DESC LIMIT 1 OFFSET {w}",
    "CREATE TRIGGER t2 AFTER INSERT ON child BEGIN INSERT INTO {w} ({w}, x) VALUES"
    " (NEW.{w}, 'y'); DELETE FROM {w} WHERE {w} IN (SELECT {w} FROM child); END",
    "CREATE TRIGGER t1 AFTER UPDATE OF {w} ON child BEGIN UPDATE child SET {w} = NEW.{w}"
    " WHERE {w} = OLD.{w}; END",
]


def _names(conn) -> list[tuple]:
    """Every name a reader sees: objects, columns (of views too), foreign keys, indexes."""
    rows = conn.execute("SELECT type, name, tbl_name FROM sqlite_master ORDER BY name").fetchall()
    out = [tuple(r) for r in rows]
    for kind, name, _tbl in rows:
        pragmas = {"table": ("table_xinfo", "foreign_key_list"), "index": ("index_xinfo",)}
        for pragma in pragmas.get(kind, ("table_xinfo",)):
            try:
                out += [
                    tuple(r)
                    for r in conn.execute(f"SELECT * FROM pragma_{pragma}(?)", (name,)).fetchall()
                ]
            except ValueError as exc:  # a view of a table the word cannot name
                out.append(str(exc))
    return out


@pytest.mark.parametrize("word", sorted(FALLBACK))
def test_a_keyword_used_as_a_name_keeps_its_spelling_through_the_normaliser(word):
    """Defect: every bare keyword was upper-cased, so ``CREATE TABLE groups (action ...)``
    became ``CREATE TABLE GROUPS (ACTION ...)``. The normalised statements must build
    exactly the names the original ones build, on libSQL, in any spelling."""
    for spelling in (word.lower(), word.capitalize()):
        original, normalised = libsql.connect(":memory:"), libsql.connect(":memory:")
        for template in NAME_PLACES:
            sql = template.format(w=spelling)
            try:
                original.execute(sql)
            except ValueError:
                continue  # a place this word cannot be in (e.g. a bare RAISE in an expression)
            text = normalise_sql(sql)
            assert normalise_sql(text) == text
            normalised.execute(text)
            if not word.startswith("CURRENT_"):  # in an expression, bare, it is the clock
                assert normalise_sql(sql, fold_case=True) == normalise_sql(
                    template.format(w=f'"{spelling}"'), fold_case=True
                )
        assert _names(normalised) == _names(original)


def test_keywords_are_still_upper_cased_where_they_are_keywords():
    sql = (
        "create table if not exists t (id integer primary key desc autoincrement,"
        " a text not null on conflict replace collate nocase, b int default current_timestamp,"
        " c int generated always as (a || 'x') virtual, e int references p(id) on delete set"
        " null on update no action deferrable initially deferred, foreign key (a, b)"
        " references p (x, y) on delete cascade) without rowid"
    )
    assert normalise_sql(sql) == (
        "CREATE TABLE IF NOT EXISTS t (\n"
        "  id integer PRIMARY KEY DESC AUTOINCREMENT,\n"
        "  a text NOT NULL ON CONFLICT REPLACE COLLATE nocase,\n"
        "  b int DEFAULT CURRENT_TIMESTAMP,\n"
        "  c int GENERATED ALWAYS AS (a || 'x') VIRTUAL,\n"
        "  e int REFERENCES p(id) ON DELETE SET NULL ON UPDATE NO ACTION DEFERRABLE"
        " INITIALLY DEFERRED,\n"
        "  FOREIGN KEY (a, b) REFERENCES p(x, y) ON DELETE CASCADE\n"
        ") WITHOUT rowid"
    )
    trigger = (
        "create trigger tr before update of first on t for each row when new.last > 0 begin"
        " insert or replace into t (a) values (raise(abort, 'no')); select case when x then 1"
        " end; end"
    )
    assert normalise_sql(trigger) == (
        "CREATE TRIGGER tr BEFORE UPDATE OF first ON t FOR EACH ROW WHEN new.last > 0\n"
        "BEGIN\n"
        "  INSERT OR REPLACE INTO t(a) VALUES (RAISE (ABORT, 'no'));\n"
        "  SELECT CASE WHEN x THEN 1 END;\n"
        "END"
    )
    view = "create view v as select x from c left join d order by x nulls last limit 1 offset 2"
    assert normalise_sql(view) == (
        "CREATE VIEW v AS SELECT x FROM c LEFT JOIN d ORDER BY x NULLS LAST LIMIT 1 OFFSET 2"
    )


def test_internal_tracking_and_vector_shadow_objects_are_left_out():
    rows = [
        ("table", "sqlite_sequence", "sqlite_sequence", "CREATE TABLE sqlite_sequence(name,seq)"),
        ("table", "schema_migrations", "schema_migrations", "CREATE TABLE x (a)"),
        ("table", "schema_migrations_log", "schema_migrations_log", "CREATE TABLE x (a)"),
        ("table", "schema_migrations_lock", "schema_migrations_lock", "CREATE TABLE x (a)"),
        ("table", "libsql_vector_meta_shadow", "libsql_vector_meta_shadow", "CREATE TABLE m (a)"),
        ("table", "docs", "docs", "CREATE TABLE docs (id INTEGER PRIMARY KEY, e F32_BLOB(3))"),
        ("index", "docs_e", "docs", "CREATE INDEX docs_e ON docs (libsql_vector_idx(e))"),
        ("table", "docs_e_shadow", "docs_e_shadow", "CREATE TABLE docs_e_shadow (k, data)"),
        ("index", "docs_e_shadow_idx", "docs_e_shadow", "CREATE INDEX docs_e_shadow_idx ON x(k)"),
        ("table", "my_shadow", "my_shadow", "CREATE TABLE my_shadow (a)"),  # not a vector's
        ("index", "sqlite_autoindex_docs_1", "docs", None),
    ]
    kept = [(o.type, o.name) for o in schema_objects(rows, "schema_migrations")]
    assert kept == [("table", "docs"), ("table", "my_shadow"), ("index", "docs_e")]
    everything = {o.name for o in schema_objects(rows, None)}
    assert "schema_migrations" in everything and "docs_e_shadow" not in everything


def test_schema_sql_is_executable_and_gives_the_same_schema_back(tmp_path):
    """What dump writes can build a database, whose dump is the same text."""
    original = open_driver(f"file:{tmp_path / 'a.db'}")
    copy = open_driver(f"file:{tmp_path / 'b.db'}")
    try:
        for text in (USERS, POSTS):
            up = text.split("-- migrate:down")[0].replace("-- migrate:up", "")
            original.run_each([Step(s) for s in _statements(up)])
        rendered = render_schema(read_schema(original, "schema_migrations"))
        copy.run_each([Step(s) for s in _statements(rendered)])
        assert render_schema(read_schema(copy, "schema_migrations")) == rendered
    finally:
        original.close()
        copy.close()


def _statements(script: str) -> list[str]:
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    return [s for s in out if s.strip(";\n ")]


# -- the task -------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, db_url) -> Project:
    project = Project(tmp_path / "app", db_url)
    project.write("20250101000001_users.sql", USERS)
    project.write("20250101000002_posts.sql", POSTS)
    return project


def test_dump_writes_stable_ordered_schema_without_data_or_tracking_tables(project: Project):
    assert project.invoke("migrate.up").code == 0
    run = project.invoke("migrate.dump")
    assert run.code == 0, run.err
    assert run.out.strip() == "wrote schema.sql"
    first = (project.root / "schema.sql").read_bytes()
    assert first.decode() == EXPECTED
    assert b"schema_migrations" not in first and b"data@example.com" not in first

    again = project.invoke("migrate.dump", "--output", "db/schema.sql")
    assert again.code == 0, again.err
    assert (project.root / "db" / "schema.sql").read_bytes() == first  # same bytes
    assert project.invoke("migrate.dump").out.strip() == "unchanged schema.sql"
    assert (project.root / "schema.sql").read_bytes() == first


def test_dump_check_detects_drift_prints_a_diff_and_writes_nothing(tmp_path):
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    project.write("20250101000001_users.sql", USERS)
    assert project.invoke("migrate.up").code == 0
    missing = project.invoke("migrate.dump", "--check")
    assert missing.code == 3 and "+++ schema.sql (from the database)" in missing.out
    assert not (project.root / "schema.sql").exists()

    assert project.invoke("migrate.dump").code == 0
    path = project.root / "schema.sql"
    current = project.invoke("migrate.dump", "--check")
    assert current.code == 0, current.err
    assert current.out.strip() == "schema.sql is up to date"

    project.write("20250101000003_tags.sql", TAGS)
    assert project.invoke("migrate.up").code == 0
    before = path.read_bytes()
    drift = project.invoke("migrate.dump", "--check")
    assert drift.code == 3
    assert "schema.sql is out of date" in drift.err and "invoke migrate.dump" in drift.err
    assert "+CREATE TABLE tags (" in drift.out.splitlines()
    assert f"+{APPLIED_PREFIX} 20250101000001, 20250101000003" in drift.out.splitlines()
    assert path.read_bytes() == before  # --check writes nothing

    doc = project.invoke("migrate.dump", "--check", "--json")
    assert doc.code == 3
    data = json.loads(doc.out)
    assert data["schema_version"] == 1 and data["check"] is True
    assert data["up_to_date"] is False and data["written"] is False
    assert data["objects"] == {"table": 3, "index": 1, "trigger": 0, "view": 0}
    assert data["applied"] == ["20250101000001", "20250101000003"]
    assert data["diff"] == drift.out.rstrip("\n") and data["output"] == "schema.sql"

    # CRLF from a Windows checkout is not drift
    assert project.invoke("migrate.dump").code == 0
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert project.invoke("migrate.dump", "--check").code == 0


def test_dump_check_accepts_crlf_kept_in_the_schema(tmp_path):
    """A CRLF migration's multi-line literal is stored with CRLF; the dump written from
    it is up to date, in LF and CRLF checkouts alike, and a real change is still drift."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    project.migrations.mkdir()
    (project.migrations / "20250101000001_s.sql").write_bytes(
        b"-- migrate:up\r\nCREATE TABLE s (v TEXT DEFAULT 'a\r\nb');\r\n"
        b"-- migrate:down\r\nDROP TABLE s;\r\n"
    )
    assert project.invoke("migrate.up").code == 0
    assert project.invoke("migrate.dump").code == 0
    path = project.root / "schema.sql"
    assert b"DEFAULT 'a\r\nb'" in path.read_bytes()
    run = project.invoke("migrate.dump", "--check")
    assert run.code == 0, run.out + run.err
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert project.invoke("migrate.dump", "--check").code == 0
    path.write_bytes(path.read_bytes().replace(b"'a\r\nb'", b"'a\r\nc'"))
    assert project.invoke("migrate.dump", "--check").code == 3


def test_dump_keeps_names_that_are_keywords_as_the_database_stores_them(project: Project):
    project.write(
        "20250101000003_groups.sql",
        "-- migrate:up\n"
        'create table groups (id integer primary key, action text, first int, "Order" text,'
        " key int references groups (id), filter text, rows int);\n"
        "create index groups_action on groups (action desc);\n"
        "-- migrate:down\ndrop table groups;\n",
    )
    assert project.invoke("migrate.up").code == 0
    assert project.invoke("migrate.dump").code == 0
    text = (project.root / "schema.sql").read_text()
    assert (
        "CREATE TABLE groups (\n  id integer PRIMARY KEY,\n  action text,\n  first int,\n"
        '  "Order" text,\n  key int REFERENCES groups(id),\n  filter text,\n  rows int\n);\n'
    ) in text
    assert "CREATE INDEX groups_action ON groups(action DESC);" in text
    assert "GROUPS" not in text and "ACTION" not in text
    assert ("table", "groups") in {(row[0], row[1]) for row in project.schema()}


def test_vector_index_shadow_tables_stay_out_of_dump_and_verify(tmp_path):
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    project.write(
        "20250101000001_docs.sql",
        "-- migrate:up\nCREATE TABLE docs (id INTEGER PRIMARY KEY, e F32_BLOB(3));\n"
        "CREATE INDEX docs_e ON docs (libsql_vector_idx(e));\n"
        "-- migrate:down\nDROP INDEX docs_e;\nDROP TABLE docs;\n",
    )
    assert project.invoke("migrate.verify").code == 0
    assert project.invoke("migrate.up").code == 0
    assert "docs_e_shadow" in {row[1] for row in project.schema()}  # libSQL made them
    assert project.invoke("migrate.dump").code == 0
    text = (project.root / "schema.sql").read_text()
    assert "CREATE INDEX docs_e ON docs(libsql_vector_idx(e));" in text
    assert "shadow" not in text


@pytest.mark.parametrize("engine", ["native", "sqlite3"])
def test_a_database_file_that_does_not_exist_is_not_dumped_and_not_created(tmp_path, engine):
    """A typo in the URL: dump fails naming the path (exit 5) and writes no schema.sql;
    status, validate and dry runs read it as an empty database and do not create it."""
    from migrate_tasks.drivers.local import FORCE_SQLITE3_ENV

    project = Project(tmp_path / "app", "file:typo.db")
    project.write("20250101000001_users.sql", USERS)
    env = {FORCE_SQLITE3_ENV: "1" if engine == "sqlite3" else None}
    typo, schema = project.root / "typo.db", project.root / "schema.sql"
    for args in (["dump"], ["dump", "--check"], ["dump", "--json"], ["dump", "--output", "s.sql"]):
        for run in (
            project.invoke(f"migrate.{args[0]}", *args[1:], **env),
            project.cli(*args, **env),
        ):
            assert run.code == 5, run.err
            assert "cannot open 'typo.db': the database file does not exist" in run.err
            assert "Traceback" not in run.err and run.out == ""
    assert not schema.exists() and not (project.root / "s.sql").exists()
    schema.write_text("-- committed\n")
    assert project.invoke("migrate.dump", **env).code == 5
    assert schema.read_text() == "-- committed\n"

    status = project.invoke("migrate.status", "--json", **env)
    assert status.code == 0, status.err
    assert [m["state"] for m in status.json["migrations"]] == ["pending"]
    assert project.invoke("migrate.status", "--check", **env).code == 3
    assert project.invoke("migrate.validate", **env).code == 0
    dry = project.invoke("migrate.up", "--dry-run", **env)
    assert dry.code == 0, dry.err
    assert "CREATE TABLE users" in dry.out
    assert project.invoke("migrate.down", "--dry-run", **env).code == 0
    assert not typo.exists()
    assert project.invoke("migrate.up", **env).code == 0  # the first write creates it
    assert typo.exists()
    assert project.invoke("migrate.dump", **env).code == 0
    assert "CREATE TABLE users" in schema.read_text()
