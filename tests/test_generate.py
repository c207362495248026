"""``generate``: models -> migration. Pairs of MetaData, each change kind, the SQL it
becomes, and the task through real subprocesses.

Every ``generate()`` call here also proves its migration on a scratch database (up
reaches the models' schema, down restores the previous one exactly), so each case is a
small round trip too. Cases that depend on data apply the migrations to a real local
libSQL file. The long round trip over the example app is test_generate_roundtrip.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from migrate_tasks.autogenerate.generate import Generated, generate
from migrate_tasks.autogenerate.target import SQLALCHEMY_MISSING, load_metadata
from migrate_tasks.drivers import open_driver
from migrate_tasks.engine.core import Engine, RunOptions
from migrate_tasks.errors import MigrationFailed, UsageError
from migrate_tasks.files.source import create_migration
from migrate_tasks.lint.types import affinity, narrowing
from tests.support.project import Project

EXAMPLE = Path(__file__).parent.parent / "examples" / "blog"


def step(folder: Path, metadata: sa.MetaData, *renames: str) -> Generated:
    """Generate against ``folder`` and write the migration there (what the task does)."""
    result = generate(metadata, folder, renames=renames)
    if result.changes:
        create_migration(folder, "step").write_text(result.text)
    return result


def up_down(result: Generated) -> tuple[str, str]:
    up, _, down = result.text.partition("-- migrate:down")
    return up, down


def table(md: sa.MetaData, name: str, *items: sa.SchemaItem) -> sa.Table:
    return sa.Table(name, md, sa.Column("id", sa.Integer, primary_key=True), *items)


def one(name: str, *items: sa.SchemaItem) -> sa.MetaData:
    md = sa.MetaData()
    table(md, name, *items)
    return md


def apply(folder: Path, db: Path) -> None:
    driver = open_driver(f"file:{db}")
    try:
        Engine(driver, folder, "schema_migrations").migrate(
            "up", options=RunOptions(lock_timeout=0)
        )
    finally:
        driver.close()


def query(db: Path, sql: str) -> list[tuple]:
    driver = open_driver(f"file:{db}")
    try:
        return [tuple(r) for r in driver.query(sql)]
    finally:
        driver.close()


@pytest.fixture(scope="module")
def blog_base():
    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    from blog.models import Base

    return Base


# -- the initial migration ------------------------------------------------------------------


def test_initial_migration_creates_everything_parents_first(tmp_path, blog_base):
    result = step(tmp_path, blog_base.metadata)
    up, down = up_down(result)
    creates = [line.split()[2] for line in up.splitlines() if line.startswith("CREATE TABLE")]
    assert set(creates[:3]) == {"organisations", "tags", "users"}
    assert set(creates[3:5]) == {"memberships", "posts"} and creates[5] == "post_tags"
    drops = [line.split()[2].rstrip(";") for line in down.splitlines() if line.startswith("DROP")]
    assert drops == creates[::-1]
    for text in (
        "UNIQUE (email)",
        "CONSTRAINT ck_organisations_slug_length CHECK (length(slug) >= 3)",
        "CONSTRAINT membership_role CHECK (role IN ('owner', 'admin', 'member'))",
        "CONSTRAINT uq_posts_organisation_title UNIQUE (organisation_id, title)",
        "FOREIGN KEY (author_id) REFERENCES users(id) ON DELETE SET NULL",
        "CREATE INDEX ix_post_tags_tag_id ON post_tags(tag_id);",
        "created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL",
    ):
        assert text in up
    assert "foreign_keys:off" not in result.text
    assert step(tmp_path, blog_base.metadata).up_to_date


def test_hand_written_migrations_that_mean_the_same_need_nothing(tmp_path):
    (tmp_path / "1_users.sql").write_text(
        "-- migrate:up\n"
        'create table "users" (id integer primary key, email varchar(255) not null'
        " constraint users_email unique, name text default ('x'), check (length(email) > 3));\n"
        "create index if not exists users_name on users (name);\n"
        "-- migrate:down\ndrop table users;\n"
    )
    md = one(
        "users",
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.Text, server_default="x"),
        sa.CheckConstraint("length(email) > 3"),
        sa.Index("users_name", "name"),
    )
    assert generate(md, tmp_path).changes == ()


# -- names ----------------------------------------------------------------------------------


def keyword_models() -> sa.MetaData:
    """Tables and columns named like SQLite keywords that are not reserved (about half of
    common column names); SQLAlchemy leaves them unquoted."""
    md = sa.MetaData()
    sa.Table(
        "groups",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(20)),
        sa.Column("first", sa.Integer),
        sa.Column("Order", sa.Text),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Index("ix_groups_action", "action"),
    )
    sa.Table(
        "filter",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.ForeignKey("groups.id")),
        sa.Column("current", sa.Boolean),
        sa.CheckConstraint("range IS NULL OR range > 0", name="ck_filter_range"),
        sa.Column("range", sa.Integer),
    )
    return md


def test_names_that_are_sqlite_keywords_keep_their_spelling(tmp_path):
    folder, db = tmp_path / "migrations", tmp_path / "app.db"
    result = step(folder, keyword_models())
    up, _down = up_down(result)
    assert [c.describe() for c in result.changes] == ["+ table groups", "+ table filter"]
    assert (
        "CREATE TABLE groups (\n  id INTEGER NOT NULL,\n  action VARCHAR(20),\n"
        "  first INTEGER,\n  \"Order\" TEXT,\n  rows INTEGER DEFAULT '0' NOT NULL,\n"
        "  PRIMARY KEY (id)\n);"
    ) in up
    assert "CREATE INDEX ix_groups_action ON groups(action);" in up
    # SQLAlchemy quotes the words it knows to be reserved ("key"): kept as it wrote them
    assert '  "key" INTEGER,\n  current BOOLEAN,\n  range INTEGER,' in up
    assert "CONSTRAINT ck_filter_range CHECK (range IS NULL OR range > 0),\n" in up
    assert 'FOREIGN KEY ("key") REFERENCES groups(id)\n' in up
    assert "GROUPS" not in result.text and "ACTION" not in result.text
    apply(folder, db)
    names = query(db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
    assert {"groups", "filter", "ix_groups_action"} <= {n for (n,) in names}
    with sqlite3.connect(db) as conn:  # what every reader sees: SELECT * keys
        cursor = conn.execute("SELECT * FROM groups")
        assert [d[0] for d in cursor.description] == [
            "id", "action", "first", "Order", "rows"
        ]  # fmt: skip
        cursor = conn.execute("SELECT * FROM filter")
        assert [d[0] for d in cursor.description] == ["id", "key", "current", "range"]
    conn.close()
    assert step(folder, keyword_models()).up_to_date


def test_constraints_come_in_the_order_the_models_declare_them():
    """SQLAlchemy's to_metadata copies constraints in hash order; the same models must
    give the same migration text every time, in the order create_all would use."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateTable

    from migrate_tasks.autogenerate.adapt import sqlite_ddl

    md = sa.MetaData()
    table(md, "a")
    table(md, "b")
    table(
        md,
        "c",
        sa.Column("a_id", sa.ForeignKey("a.id")),
        sa.Column("b_id", sa.ForeignKey("b.id")),
        sa.Column("n", sa.Integer),
        sa.CheckConstraint("n > 0", name="ck_n"),
        sa.UniqueConstraint("a_id", "b_id", name="uq_ab"),
        sa.ForeignKeyConstraint(["n"], ["a.id"], name="fk_n"),
        sa.CheckConstraint("n < 100", name="ck_n_small"),
    )
    declared = str(CreateTable(md.tables["c"]).compile(dialect=sqlite.dialect())).strip()
    texts = {sqlite_ddl(md)[0][-1] for _ in range(12)}
    assert texts == {declared}


def test_a_name_that_differs_only_in_case_is_renamed(tmp_path):
    """Migrations written by a generate that upper-cased keyword names (or by hand):
    SQLite finds GROUPS when asked for groups, but readers see GROUPS."""
    folder, db = tmp_path / "migrations", tmp_path / "app.db"
    folder.mkdir()
    (folder / "1_old.sql").write_text(
        "-- migrate:up\n"
        "CREATE TABLE GROUPS (id INTEGER NOT NULL, ACTION VARCHAR(20), FIRST INTEGER,"
        " \"Order\" TEXT, ROWS INTEGER DEFAULT '0' NOT NULL, PRIMARY KEY (id));\n"
        "CREATE INDEX IX_GROUPS_ACTION ON GROUPS (ACTION);\n"
        "CREATE TABLE filter (id INTEGER NOT NULL, KEY INTEGER, current BOOLEAN,"
        " range INTEGER, PRIMARY KEY (id), FOREIGN KEY(KEY) REFERENCES GROUPS (id),"
        " CONSTRAINT CK_FILTER_RANGE CHECK (range IS NULL OR range > 0));\n"
        "INSERT INTO GROUPS (id, ACTION) VALUES (1, 'kept');\n"
        "-- migrate:down\nDROP TABLE filter;\nDROP TABLE GROUPS;\n"
    )
    result = step(folder, keyword_models())
    assert [c.describe() for c in result.changes] == [
        "~ table GROUPS renamed to groups",
        "~ column groups.ACTION renamed to action",
        "~ column groups.FIRST renamed to first",
        "~ column groups.ROWS renamed to rows",
        "~ index IX_GROUPS_ACTION on groups renamed to ix_groups_action",
        "~ column filter.KEY renamed to key",
        '+ check ck_filter_range on filter ("range" IS NULL OR "range" > 0)',
        '- check CK_FILTER_RANGE on filter ("range" IS NULL OR "range" > 0)',
    ]
    up, _down = up_down(result)
    assert 'ALTER TABLE "GROUPS" RENAME TO _rename_groups;' in up
    assert 'ALTER TABLE _rename_groups RENAME TO "groups";' in up
    assert 'ALTER TABLE "groups" RENAME COLUMN "ACTION" TO "action";' in up
    apply(folder, db)
    with sqlite3.connect(db) as conn:
        cursor = conn.execute("SELECT * FROM groups")
        assert [d[0] for d in cursor.description] == [
            "id", "action", "first", "Order", "rows"
        ]  # fmt: skip
        assert cursor.fetchall() == [(1, "kept", None, None, 0)]
    conn.close()
    assert step(folder, keyword_models()).up_to_date


# -- columns --------------------------------------------------------------------------------


def test_an_added_column_is_added_in_place_and_dropped_by_down(tmp_path):
    step(tmp_path, one("t", sa.Column("a", sa.Text)))
    result = step(tmp_path, one("t", sa.Column("a", sa.Text), sa.Column("b", sa.Integer)))
    assert [c.describe() for c in result.changes] == ["+ column t.b INTEGER"]
    up, down = up_down(result)
    assert "ALTER TABLE t ADD COLUMN b INTEGER;" in up
    assert "ALTER TABLE t DROP COLUMN b;" in down
    assert "_new_t" not in result.text and "foreign_keys:off" not in result.text


@pytest.mark.parametrize(
    ("column", "warns"),
    [
        (sa.Column("b", sa.Integer, nullable=False), True),  # NOT NULL without a default
        (sa.Column("b", sa.DateTime, server_default=sa.func.now()), False),
        (sa.Column("b", sa.Text, unique=True), False),
    ],
    ids=["not-null-without-default", "current-timestamp-default", "unique"],
)
def test_columns_add_column_cannot_add_rebuild_the_table(tmp_path, column, warns):
    step(tmp_path, one("t", sa.Column("a", sa.Text)))
    result = step(tmp_path, one("t", sa.Column("a", sa.Text), column))
    assert "CREATE TABLE _new_t" in result.text and "ALTER TABLE _new_t RENAME TO t;" in result.text
    warnings = [n for n in result.notes if n.level == "warning"]
    assert bool(warnings) == warns
    if warns:  # the lint rule's message (one rule set: docs/lint.md)
        assert "t.b is NOT NULL without a default" in warnings[0].message
        assert warnings[0].rule == "LS302" and "(LS302)" in warnings[0].message
        [change] = result.changes
        assert (change.rule, change.warning) == (
            "LS302",
            warnings[0].message.removesuffix(" (LS302)"),
        )


def test_a_column_added_with_a_foreign_key_uses_references(tmp_path):
    md = sa.MetaData()
    table(md, "parent")
    table(md, "child")
    step(tmp_path, md)
    md = sa.MetaData()
    table(md, "parent")
    table(md, "child", sa.Column("p", sa.ForeignKey("parent.id", ondelete="SET NULL")))
    up, down = up_down(step(tmp_path, md))
    assert "ALTER TABLE child ADD COLUMN p INTEGER REFERENCES parent (id) ON DELETE SET NULL;" in up
    assert "ALTER TABLE child DROP COLUMN p;" in down


def test_a_dropped_column_warns_and_down_rebuilds_it_in_place(tmp_path):
    db = tmp_path / "t.db"
    folder = tmp_path / "m"
    step(folder, one("t", sa.Column("a", sa.Text, nullable=False), sa.Column("b", sa.Text)))
    apply(folder, db)
    query(db, "INSERT INTO t (id, a, b) VALUES (1, 'kept', 'gone')")
    result = step(folder, one("t", sa.Column("b", sa.Text)))
    up, down = up_down(result)
    assert "ALTER TABLE t DROP COLUMN a;" in up
    assert "warning" in [n.level for n in result.notes]
    assert [(c.kind, c.rule) for c in result.changes] == [("drop_column", "LS102")]
    assert "CREATE TABLE _new_t" in down  # back where it was, not appended at the end
    assert "-- t.a was dropped, its values are gone: rows get ''" in down
    apply(folder, db)
    assert query(db, "SELECT * FROM t") == [(1, "gone")]


def test_a_unique_column_is_dropped_by_a_rebuild(tmp_path):
    step(tmp_path, one("t", sa.Column("a", sa.Text, unique=True), sa.Column("b", sa.Text)))
    result = step(tmp_path, one("t", sa.Column("b", sa.Text)))
    up, _down = up_down(result)
    assert "INSERT INTO _new_t (id, b) SELECT id, b FROM t;" in up


def test_an_indexed_column_is_dropped_after_its_index(tmp_path):
    step(
        tmp_path, one("t", sa.Column("a", sa.Text), sa.Column("b", sa.Text), sa.Index("ix_a", "a"))
    )
    up, down = up_down(step(tmp_path, one("t", sa.Column("b", sa.Text))))
    assert up.index("DROP INDEX ix_a;") < up.index("ALTER TABLE t DROP COLUMN a;")
    assert "CREATE INDEX ix_a ON t(a);" in down


# -- renames --------------------------------------------------------------------------------


def test_a_rename_is_a_rename_column(tmp_path):
    step(tmp_path, one("t", sa.Column("a", sa.Text), sa.Index("ix_t_a", "a")))
    result = step(tmp_path, one("t", sa.Column("b", sa.Text), sa.Index("ix_t_a", "b")), "a:b")
    assert [c.describe() for c in result.changes] == ["~ column t.a renamed to b"]
    up, down = up_down(result)
    assert "ALTER TABLE t RENAME COLUMN a TO b;" in up
    assert "ALTER TABLE t RENAME COLUMN b TO a;" in down


def test_a_rename_with_a_type_change_copies_the_old_column(tmp_path):
    step(tmp_path, one("t", sa.Column("a", sa.String(10))))
    result = step(tmp_path, one("t", sa.Column("b", sa.String(20))), "t.a:b")
    up, down = up_down(result)
    assert "INSERT INTO _new_t (id, b) SELECT id, a FROM t;" in up
    assert "INSERT INTO _new_t (id, a) SELECT id, b FROM t;" in down


def test_without_rename_it_is_a_drop_and_an_add(tmp_path):
    step(tmp_path, one("t", sa.Column("a", sa.Text)))
    result = generate(one("t", sa.Column("b", sa.Text)), tmp_path)
    assert sorted(c.kind for c in result.changes) == ["add_column", "drop_column"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a:b", "tables t, u all fit; write TABLE.a:b"),
        ("t.x:b", "table t has no column x"),
        ("t.a:zz", "table t has no column a in the migrations' schema together with a column zz"),
        ("nonsense", "expected old:new or table.old:new"),
    ],
)
def test_renames_that_do_not_fit_are_refused(tmp_path, spec, message):
    md = sa.MetaData()
    table(md, "t", sa.Column("a", sa.Text))
    table(md, "u", sa.Column("a", sa.Text))
    step(tmp_path, md)
    md = sa.MetaData()
    table(md, "t", sa.Column("b", sa.Text))
    table(md, "u", sa.Column("b", sa.Text))
    with pytest.raises(UsageError, match=message):
        generate(md, tmp_path, renames=[spec])


def test_a_rename_of_a_column_the_models_still_have_is_refused(tmp_path):
    step(tmp_path, one("t", sa.Column("a", sa.Text)))
    md = one("t", sa.Column("a", sa.Text), sa.Column("b", sa.Text))
    with pytest.raises(UsageError, match="still have a column a"):
        generate(md, tmp_path, renames=["a:b"])


# -- types, nullability, defaults, keys -----------------------------------------------------


def test_narrowing_and_affinity_changes_warn():
    assert affinity("VARCHAR(10)") == "TEXT" and affinity("BIGINT") == "INTEGER"
    assert affinity("") == "BLOB" and affinity("DOUBLE PRECISION") == "REAL"
    assert affinity("DECIMAL(10, 2)") == "NUMERIC"
    assert "narrows" in narrowing("t.c", "VARCHAR(200)", "VARCHAR(100)")
    assert "NUMERIC(10, 2)" in narrowing("t.c", "NUMERIC(10, 2)", "NUMERIC(8, 2)")
    assert "affinity from TEXT to INTEGER" in narrowing("t.c", "TEXT", "INTEGER")
    assert narrowing("t.c", "VARCHAR(100)", "VARCHAR(200)") == ""
    assert narrowing("t.c", "INTEGER", "TEXT") == ""
    assert narrowing("t.c", "INTEGER", "BIGINT") == ""


def test_a_type_change_rebuilds_and_keeps_the_rows(tmp_path):
    db, folder = tmp_path / "t.db", tmp_path / "m"
    step(folder, one("t", sa.Column("title", sa.String(200), nullable=False)))
    apply(folder, db)
    query(db, "INSERT INTO t (id, title) VALUES (1, 'hello'), (2, 'world')")
    result = step(folder, one("t", sa.Column("title", sa.String(100), nullable=False)))
    assert [c.describe() for c in result.changes] == [
        "~ column t.title type VARCHAR(200) -> VARCHAR(100)"
    ]
    assert any("narrows the type" in n.message for n in result.notes if n.level == "warning")
    assert [c.rule for c in result.changes] == ["LS306"]
    apply(folder, db)
    assert query(db, "SELECT id, title FROM t ORDER BY id") == [(1, "hello"), (2, "world")]


def test_not_null_with_a_server_default_fills_the_nulls(tmp_path):
    db, folder = tmp_path / "t.db", tmp_path / "m"
    step(folder, one("t", sa.Column("n", sa.Text)))
    apply(folder, db)
    query(db, "INSERT INTO t (id, n) VALUES (1, NULL), (2, 'x')")
    result = step(folder, one("t", sa.Column("n", sa.Text, nullable=False, server_default="?")))
    assert "coalesce(n, '?')" in result.text
    apply(folder, db)
    assert query(db, "SELECT id, n FROM t ORDER BY id") == [(1, "?"), (2, "x")]


def test_not_null_without_a_default_fails_on_nulls_and_applies_nothing(tmp_path):
    db, folder = tmp_path / "t.db", tmp_path / "m"
    step(folder, one("t", sa.Column("n", sa.Text)))
    apply(folder, db)
    query(db, "INSERT INTO t (id, n) VALUES (1, NULL)")
    result = step(folder, one("t", sa.Column("n", sa.Text, nullable=False)))
    assert any("rows where t.n is NULL" in n.message for n in result.notes)
    assert [n.rule for n in result.notes if n.level == "warning"] == ["LS303"]
    with pytest.raises(MigrationFailed, match="NOT NULL constraint failed"):
        apply(folder, db)
    assert query(db, "SELECT id, n FROM t") == [(1, None)]
    assert query(db, "SELECT sql FROM sqlite_master WHERE name = '_new_t'") == []


def test_default_primary_key_check_and_unique_changes_rebuild(tmp_path):
    step(tmp_path, one("t", sa.Column("k", sa.Integer, nullable=False)))
    md = sa.MetaData()
    sa.Table(
        "t",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("k", sa.Integer, primary_key=True, server_default="0"),
        sa.CheckConstraint("k >= 0", name="ck_k"),
        sa.UniqueConstraint("k", name="uq_k"),
    )
    result = step(tmp_path, md)
    assert sorted(c.kind for c in result.changes) == [
        "add_check", "add_unique", "alter_default", "alter_primary_key",
    ]  # fmt: skip
    assert result.migration is not None and result.migration.rebuilt == ("t",)


# -- foreign keys, views, triggers ----------------------------------------------------------


def family(child_type: type = sa.Integer, parent_name: int = 50) -> sa.MetaData:
    md = sa.MetaData()
    table(md, "parent", sa.Column("name", sa.String(parent_name)))
    table(
        md,
        "child",
        sa.Column("parent_id", sa.ForeignKey("parent.id", ondelete="CASCADE")),
        sa.Column("n", child_type),
    )
    return md


def test_foreign_keys_are_off_only_when_a_rebuilt_table_is_referenced(tmp_path):
    db, folder = tmp_path / "t.db", tmp_path / "m"
    step(folder, family())
    apply(folder, db)
    query(db, "INSERT INTO parent VALUES (1, 'p')")
    query(db, "INSERT INTO child VALUES (1, 1, 5), (2, 1, 6)")
    child = step(folder, family(child_type=sa.Text))  # only child is rebuilt
    assert "foreign_keys:off" not in child.text
    parent = step(folder, family(child_type=sa.Text, parent_name=80))
    up, down = up_down(parent)
    assert "-- migrate:up foreign_keys:off" in up and "DROP TABLE parent;" in down
    assert "-- migrate:down foreign_keys:off" in parent.text
    apply(folder, db)  # without foreign_keys:off, DROP TABLE parent would cascade
    assert query(db, "SELECT id, parent_id FROM child ORDER BY id") == [(1, 1), (2, 1)]
    assert query(db, "SELECT * FROM pragma_foreign_key_check") == []


def test_a_self_referencing_table_is_rebuilt_with_foreign_keys_off(tmp_path):
    def tree(length: int) -> sa.MetaData:
        return one(
            "node",
            sa.Column("parent_id", sa.ForeignKey("node.id", ondelete="CASCADE")),
            sa.Column("label", sa.String(length)),
        )

    db, folder = tmp_path / "t.db", tmp_path / "m"
    step(folder, tree(10))
    apply(folder, db)
    query(db, "INSERT INTO node VALUES (1, NULL, 'root'), (2, 1, 'leaf')")
    assert "-- migrate:up foreign_keys:off" in step(folder, tree(20)).text
    apply(folder, db)
    assert query(db, "SELECT id, parent_id FROM node ORDER BY id") == [(1, None), (2, 1)]


def test_a_dropped_table_goes_after_its_children(tmp_path):
    step(tmp_path, family())
    result = step(tmp_path, sa.MetaData())
    up, down = up_down(result)
    assert up.index("DROP TABLE child;") < up.index("DROP TABLE parent;")
    assert down.index("CREATE TABLE parent") < down.index("CREATE TABLE child")
    assert "foreign_keys:off" not in result.text


def test_views_and_triggers_survive_a_rebuild(tmp_path):
    db, folder = tmp_path / "t.db", tmp_path / "m"
    step(folder, family())
    (folder / "99990101000000_extras.sql").write_text(
        "-- migrate:up\n"
        "CREATE VIEW named AS SELECT c.id, p.name FROM child AS c JOIN parent AS p"
        " ON p.id = c.parent_id;\n"
        "CREATE TRIGGER parent_upper AFTER INSERT ON parent BEGIN"
        " UPDATE parent SET name = upper(name) WHERE id = NEW.id; END;\n"
        "CREATE TRIGGER child_note AFTER INSERT ON child BEGIN"
        " UPDATE parent SET name = name || '+' WHERE id = NEW.parent_id; END;\n"
        "-- migrate:down\nDROP VIEW named;\nDROP TRIGGER parent_upper;\n"
        "DROP TRIGGER child_note;\n"
    )
    apply(folder, db)
    result = generate(family(parent_name=80), folder)  # proven on a scratch database
    up, _down = up_down(result)
    assert up.index("DROP VIEW named;") < up.index("DROP TABLE parent;")
    assert up.index("DROP TRIGGER child_note;") < up.index("DROP TABLE parent;")
    assert up.index("RENAME TO parent;") < up.index("CREATE VIEW named AS SELECT c.id")
    assert up.index("RENAME TO parent;") < up.index("CREATE TRIGGER child_note AFTER")
    (folder / "99990102000000_wider.sql").write_text(result.text)
    apply(folder, db)
    query(db, "INSERT INTO parent (id, name) VALUES (1, 'ann')")
    query(db, "INSERT INTO child (id, parent_id) VALUES (1, 1)")
    assert query(db, "SELECT * FROM named") == [(1, "ANN+")]


# -- what the models say that SQLite cannot -------------------------------------------------


def test_an_enum_without_its_constraint_gets_a_check(tmp_path):
    md = one("t", sa.Column("status", sa.Enum("new", "done", name="status")))
    result = generate(md, tmp_path)
    assert "CONSTRAINT status CHECK (status IN ('new', 'done'))" in result.text
    assert any(n.level == "info" and "create_constraint=False" in n.message for n in result.notes)


def test_postgresql_isms_get_advice_and_sqlite_ddl(tmp_path):
    md = sa.MetaData()
    sa.Table(
        "events",
        md,
        sa.Column("id", sa.Integer, sa.Sequence("events_id_seq"), primary_key=True),
        sa.Column("tags", pg.ARRAY(sa.Text)),
        sa.Column("payload", pg.JSONB),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()")),
        sa.Column("uid", pg.UUID, server_default=sa.text("gen_random_uuid()")),
        sa.Column("meta", pg.JSONB, server_default=sa.text("'{}'::jsonb")),
        sa.Column("address", pg.INET),
        sa.Index("ix_live", "at", postgresql_where=sa.text("at IS NOT NULL")),
        schema="app",
    )
    result = generate(md, tmp_path)
    advice = "\n".join(n.message for n in result.notes if n.level == "advice")
    for expected in (
        "app.events: SQLite has no schemas",
        "events.tags: ARRAY has no SQLite equivalent; emitted as JSON",
        "events.payload: JSONB has no SQLite form; emitted as JSON",
        "events.at: DateTime(timezone=True): SQLite stores no time zone",
        "events.at: server default now() is PostgreSQL; emitted as CURRENT_TIMESTAMP",
        "events.uid: SQLite has no gen_random_uuid()",
        "events.uid: UUID is not a SQLite type",
        "events.meta: server default '{}'::jsonb is PostgreSQL syntax",
        "events.address: INET has no SQLite equivalent; emitted as TEXT",
        "events.id: SQLite has no sequences",
        "index ix_live on events: postgresql_where apply to PostgreSQL only",
    ):
        assert expected in advice
    up, _down = up_down(result)
    assert "CREATE TABLE events (" in up
    for gone in ("now()", "gen_random_uuid", "JSONB", "ARRAY", "::", "app."):
        assert gone not in up
    assert "uid CHAR(32)" in up and "at DATETIME DEFAULT CURRENT_TIMESTAMP" in up


def test_jsonb_becomes_json_also_where_sqlalchemy_cannot_render_it(tmp_path, monkeypatch):
    # SQLAlchemy 2.0 (which pyproject allows) has no SQLite rendering of JSONB at all, and
    # JSONB became TEXT with the wrong advice; 2.1 renders it. Take 2.1's away to be 2.0.
    from sqlalchemy.dialects.sqlite.base import SQLiteTypeCompiler

    monkeypatch.delattr(SQLiteTypeCompiler, "visit_JSONB", raising=False)
    with pytest.raises(sa.exc.CompileError):
        pg.JSONB().compile(dialect=sa.dialects.sqlite.dialect())
    md = sa.MetaData()
    sa.Table(
        "events",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("payload", pg.JSONB),
        sa.Column("raw", pg.JSONB().with_variant(sa.Text(), "sqlite")),  # the user's choice
    )
    result = generate(md, tmp_path)
    up, _down = up_down(result)
    assert "payload JSON," in up and "raw TEXT" in up
    advice = [n.message for n in result.notes if n.level == "advice"]
    assert advice == [
        "events.payload: JSONB has no SQLite form; emitted as JSON. Write"
        " JSON().with_variant(JSONB(), 'postgresql') to keep JSONB on PostgreSQL"
    ]


# -- loading the models ---------------------------------------------------------------------


def test_loading_models_and_what_goes_wrong(tmp_path, monkeypatch, blog_base):
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        "class Holder:\n    metadata = metadata\nnot_models = 3\n"
    )
    (package / "broken.py").write_text("raise RuntimeError('no database configured')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    loaded = load_metadata("shop.models:metadata")
    assert load_metadata("shop.models") is loaded  # Base, then metadata
    assert load_metadata("shop.models:Holder.metadata") is loaded
    assert load_metadata("shop.models:Holder") is loaded
    assert load_metadata("blog.models:Base") is blog_base.metadata
    for spec, message in (
        ("shop.nothing:Base", "no module named 'shop.nothing'"),
        ("shop.broken:Base", "importing shop.broken failed: RuntimeError: no database configured"),
        ("shop.models:Base", "has no attribute Base"),
        ("shop.models:not_models", "expected a declarative base or a MetaData, got int"),
        (":Base", "expected package.module:Base"),
    ):
        with pytest.raises(UsageError, match=message):
            load_metadata(spec)


def test_without_sqlalchemy_the_message_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(UsageError) as caught:
        load_metadata("blog.models:Base")
    assert str(caught.value) == SQLALCHEMY_MISSING
    assert caught.value.exit_code == 2


def test_without_sqlalchemy_other_tasks_work_and_generate_explains(tmp_path):
    blocker = "import sys; sys.modules['sqlalchemy'] = None; sys.argv[0] = 'libsql-migrate';"
    script = blocker + " from migrate_tasks.cli import main; main()"
    env = Project(tmp_path, f"file:{tmp_path / 'x.db'}").env()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    (tmp_path / "migrations").mkdir()
    assert run("status").returncode == 0
    generated = run("generate", "first", "--models", "blog.models:Base")
    assert generated.returncode == 2
    assert SQLALCHEMY_MISSING in generated.stderr and "Traceback" not in generated.stderr


# -- the task -------------------------------------------------------------------------------


@pytest.fixture
def blog_project(tmp_path) -> Project:
    import shutil

    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    shutil.copytree(EXAMPLE / "blog", project.root / "blog")
    return project


def test_the_task_checks_writes_and_then_finds_nothing_to_do(blog_project):
    models = ("--models", "blog.models:Base")
    check = blog_project.invoke("migrate.generate", "initial", "--check", *models)
    assert check.code == 3
    assert "6 changes from the migrations to the models (blog.models:Base):" in check.out
    assert "  + table post_tags" in check.out
    assert "error: the models (blog.models:Base) and the migrations differ" in check.err
    assert not blog_project.migrations.exists()

    dry = blog_project.invoke("migrate.generate", "initial", "--dry-run", *models)
    assert dry.code == 0 and "-- migrate:up\nCREATE TABLE organisations (" in dry.out
    assert not blog_project.migrations.exists()

    wrote = blog_project.invoke("migrate.generate", "initial", *models)
    assert wrote.code == 0, wrote.err
    [path] = blog_project.migrations.iterdir()
    assert f"wrote migrations/{path.name}" in wrote.out and path.name.endswith("_initial.sql")

    again = blog_project.invoke("migrate.generate", "again", "--check", *models)
    assert again.code == 0
    assert (
        "the models (blog.models:Base) and the migrations agree: nothing to generate" in again.out
    )
    assert len(list(blog_project.migrations.iterdir())) == 1
    assert blog_project.invoke("migrate.up").code == 0


def test_the_task_reads_models_from_config_and_speaks_json(blog_project):
    (blog_project.root / "invoke.yaml").write_text("migrate:\n  models: blog.models:Base\n")
    run = blog_project.invoke("migrate.generate", "initial", "--json", "--dry-run")
    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert document["up_to_date"] is False and document["path"] is None
    assert document["changes"][0] == {
        "kind": "add_table", "table": "organisations", "name": "", "before": "", "after": "",
        "warning": None, "rule": None, "summary": "+ table organisations",
    }  # fmt: skip
    assert document["migration"].startswith("-- Generated by `invoke migrate.generate`")
    assert document["foreign_keys_off"] == {"up": False, "down": False}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["initial"], "generate needs the models: pass --models"),
        (["Bad-Name", "--models", "blog.models:Base"], "invalid migration name 'Bad-Name'"),
        (["x", "--models", "nowhere.models:Base"], "no module named 'nowhere.models'"),
        (["x", "--models", "blog.models:Base", "--rename", "a:b"], "--rename a:b: any table"),
    ],
    ids=["no-models", "bad-name", "bad-module", "bad-rename"],
)
def test_the_task_refuses_bad_usage_with_exit_2(blog_project, args, message):
    run = blog_project.invoke("migrate.generate", *args)
    assert run.code == 2
    assert message in run.err
    assert not blog_project.migrations.exists()


KEYWORD_MODELS = """\
import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("action", sa.String(20)),
)
"""


def test_the_task_check_reports_a_name_that_differs_only_in_case(tmp_path):
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    (project.root / "kwmodels.py").write_text(KEYWORD_MODELS)
    models = ("--models", "kwmodels:metadata")
    wrote = project.invoke("migrate.generate", "initial", *models)
    assert wrote.code == 0, wrote.err
    [path] = project.migrations.iterdir()
    assert "CREATE TABLE groups (\n  id INTEGER NOT NULL,\n  action VARCHAR(20)," in (
        path.read_text()
    )
    assert project.invoke("migrate.generate", "again", "--check", *models).code == 0

    path.write_text(path.read_text().replace("groups", "GROUPS").replace("action", "Action"))
    check = project.invoke("migrate.generate", "again", "--check", *models)
    assert check.code == 3, check.err
    assert "  ~ table GROUPS renamed to groups\n" in check.out
    assert "  ~ column groups.Action renamed to action\n" in check.out
