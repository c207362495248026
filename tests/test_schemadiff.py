"""``schemadiff``: two schemas compared by meaning (baseline, verify, generate's proof).

Pure: ``sqlite_schema`` rows in, differences out. Each case is a pair of statements that
build the same table to SQLite and its readers, or a pair that does not, with the line
that must say what differs.
"""

from __future__ import annotations

import pytest

from migrate_tasks.ops.schema import schema_objects
from migrate_tasks.ops.schemadiff import compare_schemas


def table(sql: str, name: str = "t") -> list:
    return schema_objects([("table", name, name, sql)], None)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (
            "CREATE TABLE t (id INTEGER NOT NULL, a INT, b INT, PRIMARY KEY (id),"
            " FOREIGN KEY (a) REFERENCES p (id), FOREIGN KEY (b) REFERENCES q (id))",
            "create table t (id integer not null, a int, b int, foreign key (b) references"
            " Q(ID), primary key (id), foreign key (a) references p(id))",
        ),
        (
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a INT REFERENCES p(id) ON DELETE CASCADE,"
            " e TEXT UNIQUE, c INT CHECK (c > 0))",
            "CREATE TABLE t (id INTEGER, a INT, e TEXT, c INT, CHECK (c > 0), UNIQUE (e),"
            " PRIMARY KEY (id), FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE)",
        ),
        (
            "CREATE TABLE t (n INT NOT NULL DEFAULT ('x'))",
            "CREATE TABLE t (n INT DEFAULT 'x' NOT NULL)",
        ),
        ("CREATE TABLE t (a TEXT NULL, b TEXT DEFAULT NULL)", "CREATE TABLE t (a TEXT, b TEXT)"),
        (
            "CREATE TABLE t (a INT, b INT GENERATED ALWAYS AS (a * 2) VIRTUAL)",
            "CREATE TABLE t (a INT, b INT AS (A*2))",
        ),
        (
            'CREATE TABLE t ("action" TEXT COLLATE NOCASE)',
            "CREATE TABLE t (action text collate nocase)",
        ),
        ("CREATE TABLE t ('a b' INT)", 'CREATE TABLE t ("a b" INT)'),
        (
            "CREATE TABLE t (a INT CONSTRAINT Pos CHECK (a > 0))",
            "CREATE TABLE t (a INT, CONSTRAINT Pos CHECK (a > 0))",
        ),
    ],
    ids=[
        "fk-order",
        "column-or-table-level",
        "clause-order",
        "null-no-ops",
        "generated",
        "quoting",
        "string-name",
        "named-check",
    ],
)
def test_the_same_table_in_other_words(one, other):
    assert compare_schemas(table(one), table(other)) == []


@pytest.mark.parametrize(
    ("one", "other", "line"),
    [
        (
            "CREATE TABLE t (a INT, b INT)",
            "CREATE TABLE t (b INT, a INT)",
            "column order: (a, b) in A, (b, a) in B",
        ),
        ("CREATE TABLE t (a INT)", "CREATE TABLE t (A INT)", "column a: `a` in A, `A` in B"),
        (
            "CREATE TABLE t (a VARCHAR(10))",
            "CREATE TABLE t (a VARCHAR(20))",
            "column a: `a VARCHAR(10)` in A, `a VARCHAR(20)` in B",
        ),
        (
            "CREATE TABLE t (a TEXT COLLATE NOCASE)",
            "CREATE TABLE t (a TEXT)",
            "column a: `a TEXT COLLATE NOCASE` in A, `a TEXT` in B",
        ),
        (
            "CREATE TABLE t (a INT REFERENCES p(id) ON DELETE CASCADE)",
            "CREATE TABLE t (a INT REFERENCES p(id))",
            "constraint: `FOREIGN KEY (a) REFERENCES p(id) ON DELETE CASCADE` in A, none in B",
        ),
        (
            "CREATE TABLE t (a INT, CONSTRAINT fk_a FOREIGN KEY (a) REFERENCES p(id))",
            "CREATE TABLE t (a INT, CONSTRAINT FK_A FOREIGN KEY (a) REFERENCES p(id))",
            "constraint: `CONSTRAINT fk_a FOREIGN KEY (a) REFERENCES p(id)` in A, none in B",
        ),
        (
            "CREATE TABLE t (id INTEGER PRIMARY KEY DESC)",
            "CREATE TABLE t (id INTEGER PRIMARY KEY)",
            "column id: `id INTEGER PRIMARY KEY DESC` in A, `id INTEGER PRIMARY KEY` in B",
        ),
        (
            "CREATE TABLE t (a INT) STRICT",
            "CREATE TABLE t (a INT)",
            "table options: `STRICT` in A, none in B",
        ),
    ],
    ids=[
        "column-order",
        "column-case",
        "type",
        "collation",
        "fk-action",
        "constraint-name-case",
        "pk-desc",
        "strict",
    ],
)
def test_a_different_table_says_what_differs(one, other, line):
    [difference] = compare_schemas(table(one), table(other), "A", "B")
    assert difference.kind == "differs" and line in difference.details


def test_names_of_objects_compare_exactly_and_views_keep_the_case_of_their_columns():
    one = schema_objects(
        [
            ("table", "groups", "groups", "CREATE TABLE groups (id INT)"),
            ("index", "ix", "groups", "CREATE INDEX ix ON groups (id)"),
            ("view", "v", "v", "CREATE VIEW v AS SELECT id FROM groups"),
        ],
        None,
    )
    same = schema_objects(
        [
            ("table", "groups", "groups", 'CREATE TABLE "groups" ("id" INT)'),
            ("index", "ix", "groups", "create index if not exists ix on GROUPS(ID)"),
            ("view", "v", "v", 'CREATE VIEW v AS SELECT "id" FROM groups'),
        ],
        None,
    )
    assert compare_schemas(one, same) == []
    other = schema_objects(
        [
            ("table", "Groups", "Groups", "CREATE TABLE Groups (id INT)"),
            ("index", "IX", "Groups", "CREATE INDEX IX ON groups (id)"),
            ("view", "v", "v", "CREATE VIEW v AS SELECT ID FROM groups"),
        ],
        None,
    )
    found = {d.name: d.details for d in compare_schemas(one, other, "A", "B")}
    assert found["groups"] == ("name: `groups` in A, `Groups` in B",)
    assert found["ix"] == ("name: `ix` in A, `IX` in B",)
    assert found["v"][0].startswith("definition: `CREATE VIEW v AS SELECT id FROM groups` in A")


def test_missing_and_extra_objects():
    one = schema_objects([("table", "a", "a", "CREATE TABLE a (x)")], None)
    other = schema_objects([("table", "b", "b", "CREATE TABLE b (x)")], None)
    assert [d.describe() for d in compare_schemas(one, other)] == [
        "missing table a",
        "extra table b",
    ]
