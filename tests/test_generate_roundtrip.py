"""``generate`` round trips on real databases, over the example blog's model revisions.

One module-scoped chain (tests/support/blog_revisions.py: revision 0 is the example's
models, each later revision one change) does, for every revision: generate a migration
(through a real ``invoke migrate.generate`` subprocess for some revisions, in-process for
the others, to keep the suite fast), apply it with ``invoke migrate.up`` on a local
libSQL file, and record what the database looks like. Rows are inserted early, so every
later rebuild has data to keep. Then ``invoke migrate.down`` rolls back one migration
at a time, recording again. The tests assert on those records:

- after each up, the database has the models' schema, read two independent ways (our
  reflector + diff, and SQLAlchemy's inspector compared with ``create_all``);
- every row survives every rebuild and ``PRAGMA foreign_key_check`` stays empty;
- after each down, the schema is exactly (in sql/normalise.py's canonical text) what it
  was before that migration went up.

The same migrations then run on sqld over http and over ws (rebuilds with
foreign_keys:off: the PRAGMA before BEGIN in one Hrana batch), up and back down.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from migrate_tasks.autogenerate.adapt import sqlite_ddl
from migrate_tasks.autogenerate.diff import diff
from migrate_tasks.autogenerate.generate import generate, model_schema
from migrate_tasks.autogenerate.reflect import reflect
from migrate_tasks.drivers import open_driver
from migrate_tasks.files.source import create_migration, discover
from migrate_tasks.ops.dump import render_schema
from migrate_tasks.ops.schema import read_schema
from tests.support import blog_revisions as revisions
from tests.support.project import Project

SUPPORT = Path(__file__).parent / "support"
EXAMPLE = Path(__file__).parent.parent / "examples" / "blog"
TRACKING = ("schema_migrations", "schema_migrations_log", "schema_migrations_lock")
#: Revisions generated through the real task (the others in-process, for speed).
THROUGH_INVOKE = {0, 7, 12}

T0 = "'2025-01-02 03:04:05'"
#: Rows added after revision N went up (timestamps fixed, so two databases compare equal).
SEED = {
    0: [
        "INSERT INTO organisations (id, name, slug, created_at) VALUES"
        f" (1, 'Acme', 'acme', {T0}), (2, 'Beta', 'beta', {T0})",
        "INSERT INTO users (id, email, display_name, settings, created_at) VALUES"
        f" (1, 'ann@example.com', 'Ann', '{{}}', {T0}), (2, 'bob@example.com', 'Bob', '[1]', {T0})",
        "INSERT INTO memberships (user_id, organisation_id, role, joined_at) VALUES"
        f" (1, 1, 'owner', {T0}), (2, 1, 'member', {T0}), (2, 2, 'admin', {T0})",
        "INSERT INTO posts (id, organisation_id, author_id, title, body, created_at) VALUES"
        f" (1, 1, 1, 'Hello', 'first', {T0}), (2, 1, 2, 'Second', '', {T0}),"
        f" (3, 2, NULL, 'Orphan', 'x', {T0})",
        "INSERT INTO tags (id, name) VALUES (1, 'news'), (2, 'tech')",
        "INSERT INTO post_tags (post_id, tag_id) VALUES (1, 1), (1, 2), (2, 1), (3, 2)",
    ],
    1: ["UPDATE users SET bio = 'likes tea' WHERE id = 1"],
    2: [
        "INSERT INTO comments (id, post_id, author_id, body, created_at) VALUES"
        f" (1, 1, 2, 'Nice', {T0}), (2, 2, 1, 'Thanks', {T0}), (3, 3, NULL, 'Anonymous', {T0})"
    ],
}
TABLES = ("organisations", "users", "memberships", "posts", "tags", "post_tags", "comments")


def _query(url: str, sql: str) -> list[tuple]:
    driver = open_driver(url)
    try:
        return [tuple(r) for r in driver.query(sql)]
    finally:
        driver.close()


def _snapshot(url: str) -> dict[str, Any]:
    """Schema text, every row of every table, and the foreign-key check of one database."""
    driver = open_driver(url)
    try:
        schema = read_schema(driver, "schema_migrations")
        names = {o.name for o in schema if o.type == "table"}
        rows = {
            t: sorted(tuple(r) for r in driver.query(f"SELECT * FROM {t}"))
            for t in TABLES
            if t in names
        }
        return {
            "schema": render_schema(schema),
            "rows": rows,
            "fk": driver.query("SELECT * FROM pragma_foreign_key_check"),
            "reflected": reflect(driver.query, exclude=TRACKING),
        }
    finally:
        driver.close()


def _sqlalchemy_shape(engine: Any) -> dict[str, Any]:
    """The schema as SQLAlchemy's own inspector sees it (independent of our reflector)."""
    import sqlalchemy as sa

    inspector = sa.inspect(engine)
    shape = {}
    for table in sorted(inspector.get_table_names()):
        if table.startswith("schema_migrations"):
            continue
        columns = {
            c["name"]: (str(c["type"]), c["nullable"] or bool(c["primary_key"]), c["default"])
            for c in inspector.get_columns(table)
        }
        # Not ON DELETE: SQLAlchemy reads it only from FOREIGN KEY clauses, not from the
        # column-level REFERENCES that ADD COLUMN writes (our reflector reads the PRAGMA).
        fks = sorted(
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
            for f in inspector.get_foreign_keys(table)
        )
        shape[table] = {
            "columns": columns,
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": fks,
            "uniques": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "checks": sorted((c["name"], c["sqltext"]) for c in inspector.get_check_constraints(table)),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
        }  # fmt: skip
    return shape


def _sqlalchemy_agrees(path: Path, revision: int) -> bool:
    import sqlalchemy as sa

    real = sa.create_engine(f"sqlite:///{path}")
    wanted = sa.create_engine("sqlite://")
    try:
        revisions.models(revision).create_all(wanted)
        ok = _sqlalchemy_shape(real) == _sqlalchemy_shape(wanted)
        if not ok:
            print(revision, _sqlalchemy_shape(real), _sqlalchemy_shape(wanted), sep="\n")
        return ok
    finally:
        real.dispose()
        wanted.dispose()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("generate-chain")
    path = root / "blog.db"
    project = Project(root, f"file:{path}")
    shutil.copyfile(SUPPORT / "blog_revisions.py", root / "blog_revisions.py")
    record: dict[str, Any] = {"up": {}, "down": {}, "runs": {}, "project": project}
    for revision, (name, _what) in revisions.REVISIONS.items():
        renames = revisions.RENAMES.get(revision, [])
        if revision in THROUGH_INVOKE:
            flags = [f"--rename={r}" for r in renames]
            run = project.invoke(
                "migrate.generate", name, "--models", "blog_revisions:metadata", *flags,
                BLOG_REVISION=str(revision),
            )  # fmt: skip
            assert run.code == 0, run.err
            record["runs"][revision] = run
        else:
            result = generate(
                revisions.models(revision), project.migrations, renames=renames, label=name
            )
            assert result.changes, f"revision {revision} changed nothing"
            create_migration(project.migrations, name).write_text(result.text)
        up = project.invoke("migrate.up")
        assert up.code == 0, (revision, up.err)
        for sql in SEED.get(revision, []):
            _query(project.url, sql)
        snapshot = _snapshot(project.url)
        snapshot["sqlalchemy_agrees"] = _sqlalchemy_agrees(path, revision)
        record["up"][revision] = snapshot
    record["versions"] = [f.version for f in discover(project.migrations)]
    for revision in range(revisions.LAST, -1, -1):
        flags = ["--all"] if revision == 0 else []
        down = project.invoke("migrate.down", *flags)
        assert down.code == 0, (revision, down.err)
        record["down"][revision - 1] = _snapshot(project.url)
    return record


def _models_schema(revision: int):
    return model_schema(sqlite_ddl(revisions.models(revision))[0])


def test_revision_zero_is_the_example_app():
    """The restated models are the example's, so the chain starts from the real thing."""
    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    from blog.models import Base

    restated = model_schema(sqlite_ddl(revisions.models(0))[0])
    example = model_schema(sqlite_ddl(Base.metadata)[0])
    assert list(restated.tables) == list(example.tables)
    assert diff(restated, example) == []


@pytest.mark.target("file")
def test_every_revision_brings_the_database_to_the_models_schema(chain):
    assert len(chain["up"]) == len(revisions.REVISIONS) >= 11
    for revision, snapshot in chain["up"].items():
        left = diff(snapshot["reflected"], _models_schema(revision))
        assert left == [], (revision, [c.describe() for c in left])
        assert snapshot["sqlalchemy_agrees"], revision


@pytest.mark.target("file")
def test_rows_survive_every_rebuild_with_foreign_keys_intact(chain):
    seeded = chain["up"][2]["rows"]
    for revision, snapshot in chain["up"].items():
        assert snapshot["fk"] == [], revision
        if revision < 2:
            continue
        rows = snapshot["rows"]
        for table in ("organisations", "memberships", "post_tags"):
            assert rows[table] == seeded[table], (revision, table)
        assert [r[:4] for r in rows["posts"]] == [r[:4] for r in seeded["posts"]], revision
        assert [r[:2] for r in rows["users"]] == [r[:2] for r in seeded["users"]], revision
        assert rows["tags"] == seeded["tags"], revision
        if revision < 12:
            assert [r[:4] for r in rows["comments"]] == [r[:4] for r in seeded["comments"]]
    # the renamed column kept its value; the title survived its type change
    users = chain["up"][7]["rows"]["users"]
    assert users[0][-1] == "likes tea"
    assert chain["up"][4]["rows"]["posts"][0][3] == "Hello"


@pytest.mark.target("file")
def test_down_restores_every_earlier_schema_exactly(chain):
    for revision in range(revisions.LAST):
        assert chain["down"][revision]["schema"] == chain["up"][revision]["schema"], revision
        assert chain["down"][revision]["fk"] == [], revision
    assert chain["down"][-1]["schema"] == ""
    # rolled back past the rebuilds, the seeded rows are still there
    assert chain["down"][1]["rows"]["posts"] == chain["up"][1]["rows"]["posts"]
    assert chain["down"][1]["rows"]["post_tags"] == chain["up"][0]["rows"]["post_tags"]


@pytest.mark.target("file")
def test_the_task_reports_changes_and_warnings(chain):
    initial, rename, dropped = (chain["runs"][r] for r in (0, 7, 12))
    assert "+ table post_tags" in initial.out and "wrote migrations/" in initial.out
    assert "~ column users.bio renamed to about" in rename.out
    assert "- table comments" in dropped.out
    assert "warning: drops table comments and every row in it" in dropped.err
    migrations = sorted(chain["project"].migrations.iterdir())
    text = migrations[4].read_text()  # longer_titles: posts is referenced by post_tags
    assert "-- migrate:up foreign_keys:off" in text
    assert "ALTER TABLE _new_posts RENAME TO posts;" in text
    assert "foreign_keys:off" not in migrations[9].read_text().split("-- migrate:down")[0]
    assert "ALTER TABLE users RENAME COLUMN bio TO about;" in migrations[7].read_text()


@pytest.mark.parametrize(
    "transport", [pytest.param(t, marks=pytest.mark.target(t), id=t) for t in ("http", "ws")]
)
def test_the_chain_runs_on_sqld(chain, sqld_db, tmp_path, transport):
    url = sqld_db.http_url if transport == "http" else sqld_db.ws_url
    project = Project(tmp_path / transport, url)
    shutil.copytree(chain["project"].migrations, project.migrations)
    versions = chain["versions"]
    assert project.invoke("migrate.up", "--to", versions[2]).code == 0
    for revision in (0, 1, 2):
        for sql in SEED[revision]:
            _query(project.url, sql)
    up = project.invoke("migrate.up")
    assert up.code == 0, up.err
    final = _snapshot(project.url)
    assert final["schema"] == chain["up"][revisions.LAST]["schema"]
    assert final["rows"] == chain["up"][revisions.LAST]["rows"]
    assert final["fk"] == []
    down = project.invoke("migrate.down", "--to", versions[3])
    assert down.code == 0, down.err
    assert _snapshot(project.url)["schema"] == chain["up"][3]["schema"]
    assert project.invoke("migrate.down", "--all").code == 0
    assert _snapshot(project.url)["schema"] == ""
