"""The pure parts of the libSQL checks: statement shapes, target refusals, reference
tracking and the mapping of added steps (no database; tests/test_libsql.py runs them
against real targets)."""

from __future__ import annotations

import pytest

from migrate_tasks.drivers.ws import WsDriver
from migrate_tasks.engine.checks import (
    ALTER_COLUMN,
    FOREIGN_KEY_CHECK,
    GuardedStatements,
    Reference,
    ReferenceCheck,
    check_failure,
)
from migrate_tasks.engine.refusals import Refused, Target, options_problem, statement_problem
from migrate_tasks.files.parser import Statement
from migrate_tasks.sql.shapes import SchemaChange, schema_change


@pytest.mark.parametrize(
    ("sql", "change"),
    [
        ("DROP TABLE parent", SchemaChange("drop_table", "parent")),
        ('drop table if exists "main"."my ""odd"" table"', SchemaChange("drop_table", 'my "odd" table')),
        ("/* DROP TABLE x */ -- y\n DROP /* z */ TABLE [p q]", SchemaChange("drop_table", "p q")),
        ("ALTER TABLE p RENAME TO `q`", SchemaChange("rename_table", "p", new_name="q")),
        ("alter table main.T alter column \"c\" to \"c\" integer not null",
         SchemaChange("alter_column", "T", column="c")),
        ("ALTER TABLE t ALTER COLUMN column TO column INT", SchemaChange("alter_column", "t", column="column")),
        ("ALTER TABLE t RENAME COLUMN a TO b", None),
        ("ALTER TABLE t ADD COLUMN drop_table TEXT", None),
        ("DROP VIEW v", None),
        ("DROP INDEX i", None),
        ("EXPLAIN DROP TABLE parent", None),
        ("INSERT INTO log VALUES ('DROP TABLE parent')", None),
        ("DROP TABLE IF EXISTS", None),
    ],
)  # fmt: skip
def test_schema_change_reads_statements_at_the_keyword_level(
    sql: str, change: SchemaChange | None
) -> None:
    assert schema_change(sql) == change


SERVER, FILE = Target(is_server=True), Target(is_server=False)
NO_FK_SWITCH = Target(is_server=True, can_switch_foreign_keys=False)


@pytest.mark.parametrize(
    ("sql", "target", "transaction", "found"),
    [
        ("VACUUM", NO_FK_SWITCH, True, "sqld refuses VACUUM"),
        ("VACUUM INTO '/tmp/x.db'", SERVER, False, "sqld refuses VACUUM"),
        ("VACUUM", FILE, True, "VACUUM cannot run inside a transaction"),
        ("VACUUM", FILE, False, None),
        ("ATTACH 'x.db' AS x", SERVER, True, "sqld refuses ATTACH"),
        ("ATTACH 'x.db' AS x", FILE, True, None),
        ("CREATE TEMPORARY VIEW v AS SELECT 1", SERVER, True, "sqld refuses CREATE TEMPORARY"),
        ("CREATE TEMP TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; END", SERVER, True, "TEMP"),
        ("CREATE TABLE temp_data (x)", SERVER, True, None),
        ("CREATE TABLE temp (x)", SERVER, True, None),
        ("ANALYZE", SERVER, True, "sqld refuses ANALYZE"),
        ("PRAGMA main.journal_mode = 'wal'", SERVER, True, "PRAGMA journal_mode=wal"),
        ("PRAGMA journal_mode", SERVER, True, None),
        ("PRAGMA journal_mode=WAL", FILE, True, "journal_mode=WAL cannot run inside"),
        ("PRAGMA journal_mode=WAL", FILE, False, None),
        ("PRAGMA optimize", SERVER, True, "sqld refuses PRAGMA optimize"),
        ("PRAGMA cache_size = -4000", SERVER, True, "PRAGMA cache_size=-4000"),
        ("PRAGMA user_version = 7", SERVER, True, None),
        ("PRAGMA defer_foreign_keys = ON", SERVER, True, None),
        ("PRAGMA table_info(users)", SERVER, True, None),
        ("PRAGMA integrity_check(5)", SERVER, True, None),
        ("PRAGMA foreign_keys = OFF", FILE, False, "PRAGMA foreign_keys cannot be set"),
        ("PRAGMA foreign_keys(0)", SERVER, True, "foreign_keys:off"),
        ("PRAGMA foreign_keys", SERVER, True, None),
        ("PRAGMA foreign_keys = ON", FILE, True, None),  # dbmate folders start with it
        ("PRAGMA foreign_keys=on", SERVER, True, None),
        ("PRAGMA foreign_keys = 1", FILE, False, None),
        ("PRAGMA foreign_keys = 'yes'", SERVER, True, None),
        ("PRAGMA foreign_keys = false", FILE, True, "PRAGMA foreign_keys cannot be set"),
        ("SELECT 'VACUUM'", SERVER, True, None),
    ],
)
def test_statement_problems_by_target(
    sql: str, target: Target, transaction: bool, found: str | None
) -> None:
    problem = statement_problem(sql, target=target, transaction=transaction)
    if found is None:
        assert problem is None
    else:
        assert problem is not None and found in problem


REFS = [
    Reference("child", "parent", "CASCADE"),
    Reference("child2", "Parent", "NO ACTION"),  # names compare case-insensitively
    Reference("tree", "tree", "NO ACTION"),
]


def run_checks(*sqls: str) -> list[str]:
    """Feed statements to a ReferenceCheck; returns what loading saw (lazily)."""
    loads: list[str] = []

    def load() -> list[Reference]:
        loads.append("loaded")
        return [Reference(r.child, r.parent, r.on_delete) for r in REFS]

    check = ReferenceCheck(load, "m.sql", "-- migrate:up")
    for line, sql in enumerate(sqls, 1):
        check(Statement(sql, line))
    return loads


def test_references_are_read_only_when_a_statement_needs_them() -> None:
    assert run_checks("CREATE TABLE x (y)", "INSERT INTO x VALUES (1)") == []
    assert run_checks("DROP TABLE tree", "DROP TABLE child", "DROP TABLE unrelated") == ["loaded"]


def test_children_dropped_first_make_the_parent_droppable() -> None:
    run_checks("DROP TABLE child", "drop table CHILD2", "DROP TABLE parent")
    with pytest.raises(Refused) as refused:
        run_checks("DROP TABLE child", "DROP TABLE parent", "DROP TABLE child2")
    assert (refused.value.line, "child2 (ON DELETE NO ACTION)" in str(refused.value)) == (2, True)
    assert "child (" not in str(refused.value)


def test_renames_are_followed_on_both_sides() -> None:
    # a renamed child still references parent; a renamed parent takes its children along
    with pytest.raises(Refused, match="kid"):
        run_checks("ALTER TABLE child RENAME TO kid", "DROP TABLE child2", "DROP TABLE parent")
    with pytest.raises(Refused, match=r"m\.sql:2: DROP TABLE parent_old is refused"):
        run_checks("ALTER TABLE parent RENAME TO parent_old", "DROP TABLE parent_old")
    # the new table that takes the old name is not referenced by anyone
    run_checks("ALTER TABLE parent RENAME TO parent_old", "CREATE TABLE parent (id)",
               "ALTER TABLE parent RENAME TO parent_new", "DROP TABLE parent_new")  # fmt: skip


def test_added_steps_map_back_to_their_statements() -> None:
    statements = [
        Statement("CREATE TABLE t (c)", 2),
        Statement("ALTER TABLE t ALTER COLUMN c TO c NOT NULL", 3),
        Statement("INSERT INTO t VALUES (1)", 4),
        Statement("alter table t alter column c to c integer", 5),
        Statement("SELECT 1", 6),
    ]
    guarded = GuardedStatements(statements, foreign_keys_off=True)
    steps = list(guarded)
    assert [s.sql.split()[0].upper() for s in steps] == [
        "CREATE", "ALTER", "SELECT", "INSERT", "ALTER", "SELECT", "SELECT", "SELECT",
    ]  # fmt: skip
    assert steps[2].params == ("t", "t")
    assert [guarded.locate(i)[0] for i in range(8)] == [0, 1, 1, 2, 3, 3, 4, -1]
    kinds = [(added.kind if added else None) for _, added in map(guarded.locate, range(8))]
    assert kinds == [None, None, ALTER_COLUMN, None, None, ALTER_COLUMN, None, FOREIGN_KEY_CHECK]
    assert guarded.locate(1)[1] is None and guarded.locate(2)[1].statement == statements[1]


@pytest.mark.parametrize(
    "message",
    [
        "SQLite error: bad JSON path: 'migrate_tasks:foreign_key_check:o''brien (2 row(s))'",
        "JSON path error near 'migrate_tasks:foreign_key_check:o''brien (2 row(s))'",
    ],
)
def test_check_failures_are_read_back_from_either_engines_message(message: str) -> None:
    assert check_failure(message) == ("foreign_key_check", "o'brien (2 row(s))")
    assert check_failure("UNIQUE constraint failed: t.x") is None


def test_foreign_keys_off_is_refused_where_the_driver_cannot_switch_them() -> None:
    off = {"foreign_keys": "off"}
    problem = options_problem(off, target=NO_FK_SWITCH)
    assert problem is not None and "cannot turn foreign keys off" in problem
    assert options_problem(off, target=SERVER) is None
    assert options_problem(off, target=FILE) is None
    driver = WsDriver("ws://127.0.0.1:9")  # nothing listens there: nothing is sent
    try:
        assert Target.of(driver) == SERVER  # ws can: PRAGMA before BEGIN on its stream
    finally:
        driver.close()
