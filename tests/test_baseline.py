"""``invoke migrate.baseline``: adopt databases Alembic built, refuse drifted ones.

The databases are real: Alembic's own ``upgrade`` of the example blog on a SQLite file
(and, through sqlalchemy-libsql, on a real sqld), then the migrations import-alembic
wrote for that history.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support.alembic_blog import (
    BLOG_HEAD,
    BLOG_HEAD_VERSION,
    BLOG_INI,
    BLOG_REVISIONS,
    alembic,
    alembic_sqlite,
    user_schema,
    write_alembic_project,
)
from tests.support.project import Project


@pytest.fixture(scope="module")
def migrations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example's history imported both ways, once for the module."""
    folders = {}
    for mode, flags in (("reset", []), ("per-revision", ["--per-revision"])):
        root = tmp_path_factory.mktemp(mode)
        run = Project(root, "file:unused.db").invoke(
            "migrate.import-alembic", "--config", str(BLOG_INI), *flags
        )
        assert run.code == 0, run.err
        folders[mode] = root / "migrations"
    return folders


@pytest.fixture(scope="module")
def alembic_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file Alembic migrated to head (copy it before changing it)."""
    return alembic_sqlite(BLOG_INI, tmp_path_factory.mktemp("alembic") / "head.db", "upgrade:head")


def adopted(tmp_path: Path, migrations: Path, source: Path) -> Project:
    """A project whose database is a copy of ``source`` and whose migrations are ``migrations``."""
    project = Project(tmp_path / "project", f"file:{tmp_path / 'prod.db'}")
    shutil.copyfile(source, tmp_path / "prod.db")
    shutil.copytree(migrations, project.migrations)
    return project


def tables(project: Project) -> set[str]:
    return {r[0] for r in project.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_an_alembic_database_is_adopted_and_alembic_version_dropped(
    tmp_path, migrations, alembic_head
):
    project = adopted(tmp_path, migrations["reset"], alembic_head)
    before = user_schema(project.url)
    run = project.invoke("migrate.baseline", BLOG_HEAD_VERSION, "--drop-alembic-version")
    assert run.code == 0, run.err
    assert f"recorded 1 migration as applied without running them ({BLOG_HEAD_VERSION})" in run.out
    assert f"Alembic revision {BLOG_HEAD} (dropped)" in run.out
    assert "alembic_version" not in tables(project)
    assert user_schema(project.url) == before  # nothing of the schema was touched
    assert project.tracking() == {BLOG_HEAD_VERSION: "applied"}
    [entry] = project.query("SELECT version, action, outcome, error FROM schema_migrations_log")
    assert entry[:3] == (BLOG_HEAD_VERSION, "baseline", "applied")
    assert "without running it" in entry[3]
    status = project.invoke("migrate.status", "--check")
    assert status.code == 0, status.out + status.err
    up = project.invoke("migrate.up")
    assert up.code == 0 and "nothing to apply" in up.out


def test_without_the_flag_alembic_version_is_reported_and_kept(tmp_path, migrations, alembic_head):
    project = adopted(tmp_path, migrations["per-revision"], alembic_head)
    run = project.invoke("migrate.baseline", f"{BLOG_HEAD_VERSION}_index_memberships_by_role.sql")
    assert run.code == 0, run.err
    assert "recorded 7 migrations as applied" in run.out
    assert f"Alembic revision {BLOG_HEAD} (kept; drop it with --drop-alembic-version" in run.out
    assert "alembic_version" in tables(project)
    assert set(project.tracking()) == {v for _, v in BLOG_REVISIONS}
    again = project.invoke("migrate.baseline", BLOG_HEAD_VERSION)
    assert again.code == 3
    assert "already records migrations" in again.err and "Traceback" not in again.err


def test_a_database_at_an_older_revision_is_baselined_there_and_brought_up(tmp_path, migrations):
    rev, version = BLOG_REVISIONS[3]  # add tags
    old = alembic_sqlite(BLOG_INI, tmp_path / "old.db", f"upgrade:{rev}")
    project = adopted(tmp_path, migrations["per-revision"], old)
    wrong = project.invoke("migrate.baseline", BLOG_HEAD_VERSION)
    assert wrong.code == 3 and "missing index ix_memberships_organisation_role" in wrong.err
    run = project.invoke("migrate.baseline", version, "--drop-alembic-version")
    assert run.code == 0, run.err
    assert "recorded 4 migrations" in run.out and f"revision {rev} (dropped)" in run.out
    up = project.invoke("migrate.up")
    assert up.code == 0 and "applied 3 migrations" in up.out, up.err
    head = alembic_sqlite(BLOG_INI, tmp_path / "head.db", "upgrade:head")
    assert user_schema(project.url) == user_schema(f"file:{head}")


def test_a_drifted_database_is_refused_with_the_differences(tmp_path, migrations, alembic_head):
    project = adopted(tmp_path, migrations["reset"], alembic_head)
    with sqlite3.connect(tmp_path / "prod.db") as db:
        db.execute("ALTER TABLE users ADD COLUMN nickname TEXT")
        db.execute("DROP INDEX ix_posts_organisation_published")
        db.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY)")
    db.close()
    run = project.invoke("migrate.baseline", BLOG_HEAD_VERSION, "--drop-alembic-version")
    assert run.code == 3
    assert "3 differences); nothing was recorded" in run.err
    assert "missing index ix_posts_organisation_published (on posts)" in run.err
    assert "extra table audit" in run.err
    assert (
        "  table users differs:\n    column nickname: none in migrations up to"
        f" {BLOG_HEAD_VERSION}, `nickname TEXT` in database\n"
    ) in run.err
    assert "--force" in run.err and "Traceback" not in run.err
    assert "schema_migrations" not in tables(project) and "alembic_version" in tables(project)

    forced = project.invoke("migrate.baseline", BLOG_HEAD_VERSION, "--force")
    assert forced.code == 0, forced.err
    assert "--force: 3 schema difference(s) accepted" in forced.out
    assert project.tracking() == {BLOG_HEAD_VERSION: "applied"}
    [note] = project.query("SELECT error FROM schema_migrations_log")[0]
    assert "accepted with --force" in note


def test_dry_run_prints_the_sql_and_changes_nothing(tmp_path, migrations, alembic_head):
    project = adopted(tmp_path, migrations["reset"], alembic_head)
    before = project.query("SELECT type, name, sql FROM sqlite_master ORDER BY name")
    run = project.invoke("migrate.baseline", BLOG_HEAD_VERSION, "--drop-alembic-version", "-n")
    assert run.code == 0, run.err
    assert "would be dropped" in run.out
    assert (
        'INSERT INTO "schema_migrations" (version, name, checksum, status, applied_at)' in run.out
    )
    assert f"VALUES ('{BLOG_HEAD_VERSION}', 'initial_schema', 'sha256:" in run.out
    unit = run.out.split("BEGIN;")[2]  # the lock's transaction, then the recording one
    assert 'DROP TABLE "alembic_version";' in unit and "COMMIT;" in unit
    assert project.query("SELECT type, name, sql FROM sqlite_master ORDER BY name") == before


def test_the_drop_and_the_recording_are_one_transaction(tmp_path, migrations, alembic_head):
    """A DROP that fails (a row references alembic_version) leaves nothing recorded."""
    project = adopted(tmp_path, migrations["reset"], alembic_head)
    with sqlite3.connect(tmp_path / "prod.db") as db:
        db.execute("CREATE TABLE pin (v VARCHAR(32) REFERENCES alembic_version (version_num))")
        db.execute("INSERT INTO pin VALUES (?)", (BLOG_HEAD,))
    db.close()
    run = project.invoke("migrate.baseline", BLOG_HEAD_VERSION, "--force", "--drop-alembic-version")
    assert run.code == 1, run.out + run.err
    assert "FOREIGN KEY" in run.err.upper() and "Traceback" not in run.err
    assert "alembic_version" in tables(project)
    assert "schema_migrations" not in tables(project)  # created in that transaction too


def test_refusals_change_nothing(tmp_path, migrations, alembic_head):
    project = adopted(tmp_path, migrations["reset"], alembic_head)
    unknown = project.invoke("migrate.baseline", "20990101000000")
    assert unknown.code == 2 and "no migration 20990101000000 in migrations" in unknown.err
    bad = project.invoke("migrate.baseline", "latest")
    assert bad.code == 2 and "is not a migration version" in bad.err
    empty = project.invoke(
        "migrate.baseline", BLOG_HEAD_VERSION, LIBSQL_URL=f"file:{tmp_path / 'new.db'}"
    )
    assert empty.code == 2
    assert "has no tables: there is nothing to baseline" in empty.err
    assert "invoke migrate.up" in empty.err
    assert "schema_migrations" not in tables(project)


def test_a_protected_environment_asks_first(tmp_path, migrations, alembic_head):
    project = adopted(tmp_path, migrations["reset"], alembic_head)
    (project.root / "invoke.yaml").write_text(
        f"migrate:\n  environments:\n    production:\n      url: file:{tmp_path / 'prod.db'}\n"
        "      protected: true\n"
    )
    refused = project.invoke("migrate.baseline", BLOG_HEAD_VERSION, "-e", "production")
    assert refused.code == 2 and "--yes" in refused.err
    assert "schema_migrations" not in tables(project)
    run = project.invoke("migrate.baseline", BLOG_HEAD_VERSION, "-e", "production", "--yes")
    assert run.code == 0, run.err


@pytest.mark.target("http")
def test_baseline_over_sqld_http(tmp_path, migrations, sqld):
    """Alembic (through sqlalchemy-libsql) built the schema on sqld; baseline adopts it."""
    port = sqld.http_url.rsplit(":", 1)[1]
    alembic(BLOG_INI, f"sqlite+libsql://127.0.0.1:{port}", "upgrade:head")
    project = Project(tmp_path / "project", sqld.http_url)
    shutil.copytree(migrations["reset"], project.migrations)
    run = project.invoke("migrate.baseline", BLOG_HEAD_VERSION, "--drop-alembic-version")
    assert run.code == 0, run.err
    assert f"Alembic revision {BLOG_HEAD} (dropped)" in run.out
    assert project.tracking() == {BLOG_HEAD_VERSION: "applied"}
    assert "alembic_version" not in tables(project)
    status = project.invoke("migrate.status", "--check")
    assert status.code == 0, status.out + status.err


# -- what counts as a difference ------------------------------------------------------------

PARENTS = (
    "CREATE TABLE a (id INTEGER PRIMARY KEY);\n"
    "CREATE TABLE b (id INTEGER PRIMARY KEY);\n"
    "CREATE TABLE c (id INTEGER PRIMARY KEY);\n"
)
CHILD = (
    "CREATE TABLE child (\n"
    "  id INTEGER NOT NULL,\n"
    "  a_id INTEGER NOT NULL,\n"
    "  b_id INTEGER,\n"
    "  c_id INTEGER,\n"
    "  score INTEGER DEFAULT 0 NOT NULL,\n"
    "  PRIMARY KEY (id),\n"
    "  FOREIGN KEY(a_id) REFERENCES a (id) ON DELETE CASCADE,\n"
    "  FOREIGN KEY(b_id) REFERENCES b (id),\n"
    "  CONSTRAINT uq_child_ab UNIQUE (a_id, b_id),\n"
    "  FOREIGN KEY(c_id) REFERENCES c (id),\n"
    "  CHECK (score >= 0)\n"
    ");\n"
)
VERSION = "20250101000001"


def live_project(tmp_path: Path, up: str, live: str) -> Project:
    """Migrations whose up section is ``up``; a database built by running ``live``."""
    project = Project(tmp_path / "project", f"file:{tmp_path / 'live.db'}")
    project.write(f"{VERSION}_initial.sql", f"-- migrate:up\n{up}\n-- migrate:down\nSELECT 1;\n")
    with sqlite3.connect(tmp_path / "live.db") as db:
        db.executescript(live)
    db.close()
    return project


def test_constraints_in_another_order_are_the_same_schema(tmp_path):
    """Defect: table constraints were compared in clause order, so a database whose
    FOREIGN KEY clauses came out in another order (Alembic's batch rebuilds use hash
    order) was refused, leaving --force as the only way."""
    shuffled = (
        'create table "child" (id integer not null, a_id integer not null,'
        " b_id integer references B(ID), c_id integer,"
        " score integer not null default (0),"
        " check (SCORE >= 0), foreign key (c_id) references c(id),"
        " constraint uq_child_ab unique (a_id, b_id), primary key (id),"
        " foreign key (a_id) references a(id) on delete cascade);"
    )
    project = live_project(tmp_path, PARENTS + CHILD, PARENTS + shuffled)
    run = project.invoke("migrate.baseline", VERSION)
    assert run.code == 0, run.err
    assert "--force" not in run.out + run.err
    assert project.tracking() == {VERSION: "applied"}


def test_a_real_difference_is_still_reported_precisely(tmp_path):
    drifted = CHILD.replace("  FOREIGN KEY(c_id) REFERENCES c (id),\n", "").replace(
        "score INTEGER", "score TEXT"
    )
    project = live_project(tmp_path, PARENTS + CHILD, PARENTS + drifted)
    run = project.invoke("migrate.baseline", VERSION)
    assert run.code == 3, run.out + run.err
    label = f"migrations up to {VERSION}"
    assert (
        "(1 difference); nothing was recorded:\n"
        "  table child differs:\n"
        f"    column score: `score INTEGER DEFAULT 0 NOT NULL` in {label},"
        " `score TEXT DEFAULT 0 NOT NULL` in database\n"
        f"    constraint: `FOREIGN KEY (c_id) REFERENCES c(id)` in {label}, none in database\n"
    ) in run.err
    assert "schema_migrations" not in tables(project)


def test_a_name_that_differs_only_in_case_is_a_difference(tmp_path):
    """SQLite finds Groups when asked for groups, but readers see the stored spelling."""
    up = "CREATE TABLE groups (id INTEGER PRIMARY KEY, action TEXT, first INT);"
    live = 'CREATE TABLE Groups (id INTEGER PRIMARY KEY, Action TEXT, "first" INT);'
    project = live_project(tmp_path, up, live)
    run = project.invoke("migrate.baseline", VERSION)
    assert run.code == 3, run.out + run.err
    label = f"migrations up to {VERSION}"
    assert (
        "  table groups differs:\n"
        f"    name: `groups` in {label}, `Groups` in database\n"
        f"    column action: `action` in {label}, `Action` in database\n"
    ) in run.err
    assert "first" not in run.err  # quoting is not a difference
    assert "schema_migrations" not in tables(project)


BATCH_REVISIONS = [
    (
        "0001",
        None,
        "parents and child",
        """
        for name in ("a", "b", "c", "d"):
            op.create_table(name, sa.Column("id", sa.Integer, primary_key=True))
        op.create_table(
            "child",
            sa.Column("id", sa.Integer, primary_key=True),
            *(sa.Column(f"{n}_id", sa.Integer, sa.ForeignKey(f"{n}.id")) for n in "abcd"),
        )
        """,
        "",
    ),
    (
        "0002",
        "0001",
        "child gets a note (a batch rebuild)",
        """
        with op.batch_alter_table("child", recreate="always") as batch:
            batch.add_column(sa.Column("note", sa.String(50)))
        """,
        "",
    ),
]


def test_a_database_alembic_rebuilt_in_batch_mode_is_adopted(tmp_path):
    """A real Alembic batch rebuild writes the FOREIGN KEY clauses in its own order; the
    migrations list them in the reverse of that order, and baseline adopts the database."""
    ini = write_alembic_project(tmp_path / "alembic_project", BATCH_REVISIONS)
    live = alembic_sqlite(ini, tmp_path / "live.db", "upgrade:head")
    with sqlite3.connect(live) as db:
        [(stored,)] = db.execute("SELECT sql FROM sqlite_master WHERE name = 'child'").fetchall()
    db.close()
    built = sorted("abcd", key=lambda n: stored.index(f"REFERENCES {n} "))
    clauses = [f"FOREIGN KEY({n}_id) REFERENCES {n} (id)" for n in reversed(built)]
    assert clauses != [f"FOREIGN KEY({n}_id) REFERENCES {n} (id)" for n in built]
    up = "".join(f"CREATE TABLE {n} (id INTEGER NOT NULL, PRIMARY KEY (id));\n" for n in "abcd")
    up += (
        "CREATE TABLE child (id INTEGER NOT NULL, a_id INTEGER, b_id INTEGER, c_id INTEGER,"
        f" d_id INTEGER, note VARCHAR(50), PRIMARY KEY (id), {', '.join(clauses)});"
    )
    project = Project(tmp_path / "project", f"file:{live}")
    project.write(f"{VERSION}_initial.sql", f"-- migrate:up\n{up}\n-- migrate:down\nSELECT 1;\n")
    run = project.invoke("migrate.baseline", VERSION, "--drop-alembic-version")
    assert run.code == 0, run.err
    assert "Alembic revision 0002 (dropped)" in run.out
    assert project.tracking() == {VERSION: "applied"}
