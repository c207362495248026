"""``lint``: every rule on a failing and a passing example, suppressions, the golden corpus.

Rule examples run through the Python entry point (``migrate_tasks.lint.lint``) on real
files and the real scratch database; the task itself (exit codes, ``--json``, SARIF,
``--since`` in a real git repository, the size rule against sqld) runs through the real
``invoke`` program in tests/test_lint_task.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migrate_tasks.errors import LocatedError, UsageError
from migrate_tasks.lint import LintOptions, lint
from migrate_tasks.lint.registry import rules
from migrate_tasks.lint.schema import check_expressions
from migrate_tasks.lint.shapes import shape_of

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "testdata" / "lint" / "corpus"
EXPECTED = ROOT / "tests" / "testdata" / "lint" / "expected.txt"

#: The schema every example starts from: a parent, a CASCADE child, an indexed table.
BASE = """\
-- migrate:up
CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT, email TEXT);
CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id) ON DELETE CASCADE,
                note TEXT);
CREATE TABLE u (id INTEGER PRIMARY KEY, code TEXT);
CREATE UNIQUE INDEX u_code ON u (code);
-- migrate:down
SELECT 1;
"""

DOWN = "\n-- migrate:down\nSELECT 1;\n"


def up(sql: str, header: str = "-- migrate:up") -> str:
    return f"{header}\n{textwrap.dedent(sql).strip()}\n{DOWN}"


def rebuild_p(columns: str, copy: str, header: str = "-- migrate:up foreign_keys:off") -> str:
    return up(
        f"""
        CREATE TABLE _new_p ({columns});
        INSERT INTO _new_p {copy} FROM p;
        DROP TABLE p;
        ALTER TABLE _new_p RENAME TO p;
        """,
        header,
    )


def run(
    tmp_path: Path, *migrations: str, options: LintOptions | None = None, base: str = BASE
) -> list:
    """Write BASE then ``migrations`` as a folder and lint the last one; findings as
    (rule, line) plus the report."""
    folder = tmp_path / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    texts = [base, *migrations]
    for number, text in enumerate(texts, 1):
        (folder / f"{number:03d}_m{number}.sql").write_text(text)
    report = lint(folder, {f"{len(texts):03d}"}, options=options)
    return report


def ids(report) -> list[str]:
    return [f.rule_id for f in report.findings]


#: A rebuild of ``c`` that keeps every column and row, and a trigger on ``c``.
REBUILD_C = """\
CREATE TABLE _new_c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id) ON DELETE CASCADE,
                     note TEXT);
INSERT INTO _new_c SELECT * FROM c;
DROP TABLE c;
ALTER TABLE _new_c RENAME TO c;"""
C_TRIGGER = "CREATE TRIGGER c_touch AFTER UPDATE ON c BEGIN SELECT 1; END;"

# Each rule: (rule, migration that triggers it, a close migration that does not[, options]).
CASES = [
    ("LS001", up("CREATE INDEX i ON p (nope);"), up("CREATE INDEX i ON p (name);")),
    (
        "LS002",
        up("INSERT INTO c (p_id) VALUES (42);"),
        up("INSERT INTO p (id) VALUES (42);\nINSERT INTO c (p_id) VALUES (42);"),
    ),
    ("LS101", up("DROP TABLE c;"), up("CREATE TABLE t (x); DROP TABLE t;")),
    (
        "LS102",
        up("ALTER TABLE p DROP COLUMN email;"),
        up("ALTER TABLE p ADD COLUMN x TEXT; ALTER TABLE p DROP COLUMN x;"),
    ),
    (
        "LS103",
        up("DROP INDEX u_code;"),
        up("CREATE UNIQUE INDEX u_code2 ON u (code); DROP INDEX u_code;"),
    ),
    (
        "LS104",
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT", "(id, name) SELECT id, name"),
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT, email TEXT", "SELECT *"),
    ),
    (
        "LS105",
        up(f"CREATE INDEX c_note ON c (note);\n{C_TRIGGER}\n{REBUILD_C}"),
        up(
            f"CREATE INDEX c_note ON c (note);\n{C_TRIGGER}\n{REBUILD_C}\n"
            f"CREATE INDEX c_note ON c (note);\n{C_TRIGGER}"
        ),
    ),
    (
        "LS201",
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT, email TEXT", "SELECT *", "-- migrate:up"),
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT, email TEXT", "SELECT *"),
    ),
    (
        "LS202",
        up(
            """
            ALTER TABLE p RENAME TO p_old;
            CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT, email TEXT);
            INSERT INTO p SELECT * FROM p_old;
            DROP TABLE p_old;
            """,
            "-- migrate:up foreign_keys:off",
        ),
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT, email TEXT", "SELECT *"),
    ),
    (
        "LS203",
        up("CREATE TABLE d (x INTEGER REFERENCES nope (id));"),
        up("CREATE TABLE d (x INTEGER REFERENCES p (id));"),
    ),
    ("LS204", up("PRAGMA foreign_keys = OFF;"), up("SELECT 1;", "-- migrate:up foreign_keys:off")),
    (
        "LS205",
        up("PRAGMA foreign_keys = ON;"),
        up("PRAGMA foreign_keys = ON;", "-- migrate:up transaction:false"),
    ),
    ("LS301", up("CREATE UNIQUE INDEX pe ON p (email);"), up("CREATE INDEX pe ON p (email);")),
    (
        "LS302",
        up("ALTER TABLE p ADD COLUMN k TEXT NOT NULL;"),
        up("ALTER TABLE p ADD COLUMN k TEXT NOT NULL DEFAULT '';"),
    ),
    (
        "LS303",
        rebuild_p(
            "id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT", "SELECT id, name, email"
        ),
        rebuild_p(
            "id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT",
            "SELECT id, coalesce(name, ''), email",
        ),
    ),
    (
        "LS304",
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT CHECK (name <> ''), email TEXT", "SELECT *"),
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT, email TEXT COLLATE NOCASE", "SELECT *"),
    ),
    (
        "LS305",
        up("ALTER TABLE p ALTER COLUMN name TO name TEXT NOT NULL;"),
        up("ALTER TABLE p ALTER COLUMN name TO name TEXT DEFAULT 'x';"),
    ),
    (
        "LS306",
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT, email INTEGER", "SELECT *"),
        rebuild_p("id INTEGER PRIMARY KEY, name TEXT, email VARCHAR(200)", "SELECT *"),
    ),
    (
        "LS401",
        up("ALTER TABLE c RENAME TO kids;"),
        up("CREATE TABLE t2 (x); ALTER TABLE t2 RENAME TO t3;"),
    ),
    (
        "LS402",
        up("ALTER TABLE p RENAME COLUMN name TO full_name;"),
        up("ALTER TABLE p ADD COLUMN full_name TEXT;"),
    ),
    (
        "LS501",
        up("CREATE INDEX pn ON p (name);", "-- migrate:up transaction:false"),
        up("SELECT 1;"),
    ),
    (
        "LS502",
        up("CREATE TEMP TABLE staging (x);"),
        up("CREATE TEMP TABLE staging (x);"),
        LintOptions(target="http"),
        LintOptions(target="file"),
    ),
    ("LS504", "-- migrate:up\nSELECT 1;\n", up("SELECT 1;")),
    (
        "LS601",
        up("UPDATE p SET name = upper(name);"),
        up("UPDATE p SET name = upper(name);"),
        LintOptions(target="http", row_counts={"p": 20_000_000}),
        LintOptions(target="http", row_counts={"p": 1_000}),
    ),
    (
        "LS701",
        up("SELECT 1;"),
        up("SELECT 1;"),
        LintOptions(newest_applied="900"),
        LintOptions(newest_applied="001"),
    ),
]


def test_every_rule_has_a_failing_and_a_passing_example():
    assert sorted({case[0] for case in CASES}) == sorted(rules())


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_fails_on_the_bad_example_and_passes_the_good_one(tmp_path, case):
    rule, bad, good = case[:3]
    bad_options, good_options = (case[3], case[4]) if len(case) > 3 else (None, None)
    found = run(tmp_path / "bad", bad, options=bad_options)
    assert rule in ids(found), [f.message for f in found.findings]
    finding = next(f for f in found.findings if f.rule_id == rule)
    assert finding.severity == rules()[rule].severity
    assert finding.path.endswith("_m2.sql") and finding.version == "002"
    assert finding.object and finding.message and "\n" not in finding.message
    clean = run(tmp_path / "good", good, options=good_options)
    assert rule not in ids(clean), [f.message for f in clean.findings]


def test_findings_name_the_line_of_the_statement(tmp_path):
    report = run(tmp_path, up("SELECT 1;\n\nDROP TABLE c;\nALTER TABLE p DROP COLUMN email;"))
    assert [(f.rule_id, f.line, f.object) for f in report.findings] == [
        ("LS101", 4, "c"),
        ("LS102", 5, "p.email"),
    ]


def test_a_rebuild_of_a_referenced_table_with_rows_is_explained_not_just_failed(tmp_path):
    """Seed rows reference p: the scratch database runs the section with foreign keys off,
    so the drop goes through there and LS201 says why up refuses it (found on Chinook)."""
    seeded = BASE.replace(
        "-- migrate:down",
        "INSERT INTO p (id) VALUES (1);\nINSERT INTO c (p_id) VALUES (1);\n-- migrate:down",
    )
    rebuild = rebuild_p(
        "id INTEGER PRIMARY KEY, name TEXT, email TEXT", "SELECT *", "-- migrate:up"
    )
    assert ids(run(tmp_path / "a", rebuild, base=seeded)) == ["LS201"]
    lossy = up(
        """
        CREATE TABLE _new_p (id INTEGER PRIMARY KEY, name TEXT, email TEXT);
        INSERT INTO _new_p SELECT * FROM p WHERE id > 1;
        DROP TABLE p;
        ALTER TABLE _new_p RENAME TO p;
        """,
        "-- migrate:up foreign_keys:off",
    )  # the copy leaves out the row c references
    assert ids(run(tmp_path / "b", lossy, base=seeded)) == ["LS002"]


def test_the_drop_message_is_the_engines_refusal(tmp_path):
    """LS201 says what ``up`` says when it refuses the same migration (engine/checks.py)."""
    report = run(tmp_path, up("DROP TABLE p;"))
    [finding] = [f for f in report.findings if f.rule_id == "LS201"]
    assert finding.message.startswith("DROP TABLE p is refused: c (ON DELETE CASCADE) reference p.")
    assert "ON DELETE CASCADE children silently lose every row" in finding.message
    assert "Nothing of this migration was run" not in finding.message


def test_rules_see_the_schema_of_each_statement_within_a_migration(tmp_path):
    """A table created earlier in the same migration is empty: no data rule fires."""
    report = run(
        tmp_path,
        up(
            """
            CREATE TABLE n (id INTEGER PRIMARY KEY, e TEXT);
            CREATE UNIQUE INDEX n_e ON n (e);
            ALTER TABLE n ADD COLUMN k TEXT NOT NULL;
            ALTER TABLE n RENAME COLUMN e TO email;
            ALTER TABLE n RENAME TO m;
            DROP TABLE m;
            """
        ),
    )
    assert ids(report) == []


def test_a_unique_key_on_a_new_empty_column_is_safe(tmp_path):
    """Existing rows get NULL in a new column without a default, and NULLs never clash
    in a UNIQUE key; a default or an UPDATE fills them with values that may."""
    added = "ALTER TABLE p ADD COLUMN slug TEXT;\n"
    assert ids(run(tmp_path / "a", up(added + "CREATE UNIQUE INDEX ps ON p (slug);"))) == []
    filled = added + "UPDATE p SET slug = name;\nCREATE UNIQUE INDEX ps ON p (slug);"
    assert ids(run(tmp_path / "b", up(filled))) == ["LS301"]
    default = "ALTER TABLE p ADD COLUMN slug TEXT DEFAULT 'x';\nCREATE UNIQUE INDEX ps ON p (slug);"
    assert ids(run(tmp_path / "c", up(default))) == ["LS301"]
    rebuilt = rebuild_p(
        "id INTEGER PRIMARY KEY, name TEXT, email TEXT, slug TEXT UNIQUE",
        "(id, name, email) SELECT *",
    )
    assert ids(run(tmp_path / "d", rebuilt)) == []


def test_live_row_counts_silence_data_rules_on_empty_tables(tmp_path):
    bad = up("CREATE UNIQUE INDEX pe ON p (email); ALTER TABLE p ADD COLUMN k TEXT NOT NULL;")
    assert ids(run(tmp_path / "a", bad)) == ["LS301", "LS302"]
    empty = run(tmp_path / "b", bad, options=LintOptions(row_counts={"p": 0}))
    assert ids(empty) == []
    full = run(tmp_path / "c", bad, options=LintOptions(row_counts={"p": 12}))
    assert ids(full) == ["LS301", "LS302"]
    assert "(12 rows on the live database)" in full.findings[0].message


def test_the_size_rule_adds_up_the_whole_migration(tmp_path):
    migration = up(
        "UPDATE p SET name = upper(name);\nDELETE FROM c WHERE note IS NULL;\n"
        "CREATE INDEX pn ON p (name);\nDELETE FROM u;"  # without WHERE: emptied at once
    )
    counts = {"p": 1_000_000, "c": 4_000_000, "u": 50_000_000}
    report = run(tmp_path, migration, options=LintOptions(target="http", row_counts=counts))
    [finding] = report.findings
    assert finding.rule_id == "LS601" and (finding.line, finding.object) == (3, "c")  # heaviest
    assert "p: 1000000 rows, line 2" in finding.message and "c: 4000000 rows" in finding.message
    assert "about 8.1 s" in finding.message and "50000000" not in finding.message
    looser = LintOptions(target="http", row_counts=counts, transaction_budget_s=60)
    assert ids(run(tmp_path / "b", migration, options=looser)) == []


def test_history_against_the_base_branch(tmp_path):
    options = LintOptions(base_newest="002", base_label="origin/main")
    [finding] = run(tmp_path, up("SELECT 1;"), options=options).findings
    assert finding.rule_id == "LS701" and "origin/main" in finding.message


def test_a_failing_statement_ends_what_the_schema_rules_see(tmp_path):
    report = run(tmp_path, up("CREATE INDEX i ON p (nope);\nDROP TABLE c;\nVACUUM;"))
    assert ids(report) == ["LS001", "LS502"]  # no LS101: line 3 never ran
    assert "no such column: nope" in report.findings[0].message
    before = run(tmp_path / "b", up("DROP TABLE c;\nCREATE INDEX i ON p (nope);"))
    assert [(f.rule_id, f.line) for f in before.findings] == [("LS101", 2), ("LS001", 3)]


def test_earlier_migrations_are_applied_not_linted(tmp_path):
    report = run(tmp_path, up("SELECT 1;"), base=BASE.replace("SELECT 1;", "DROP TABLE p;"))
    assert ids(report) == []
    assert [m.version for m in report.migrations] == ["002"]


# -- suppressions --------------------------------------------------------------------------


def test_nolint_on_the_line_before_a_statement(tmp_path):
    report = run(
        tmp_path, up("-- moved to the archive database\n-- migrate:nolint LS101\nDROP TABLE c;")
    )
    assert ids(report) == []
    [silenced] = report.suppressed
    assert (silenced.finding.rule_id, silenced.finding.line, silenced.by_line) == ("LS101", 4, 3)


def test_nolint_at_the_end_of_a_line_of_the_statement(tmp_path):
    report = run(tmp_path, up("ALTER TABLE p\n  DROP COLUMN email; -- migrate:nolint LS102"))
    assert ids(report) == [] and report.suppressed[0].by_line == 3


def test_nolint_silences_only_the_rules_it_names_and_only_its_statement(tmp_path):
    report = run(
        tmp_path,
        up("-- migrate:nolint LS102\nDROP TABLE c;\nDROP TABLE u; -- migrate:nolint LS101"),
    )
    assert [(f.rule_id, f.line) for f in report.findings] == [("LS101", 3)]
    assert [s.finding.line for s in report.suppressed] == [4]


def test_nolint_separated_from_its_statement_by_code_silences_nothing(tmp_path):
    report = run(tmp_path, up("-- migrate:nolint LS101\nSELECT 1;\nDROP TABLE c;"))
    assert ids(report) == ["LS101"] and report.suppressed == []


def test_nolint_in_a_section_header(tmp_path):
    report = run(
        tmp_path,
        "-- migrate:up transaction:false nolint:LS501,LS504\nCREATE INDEX i ON p (name);\n",
    )
    assert ids(report) == []
    assert sorted(s.finding.rule_id for s in report.suppressed) == ["LS501", "LS504"]


@pytest.mark.parametrize(
    "text",
    [
        up("-- migrate:nolint LS999\nDROP TABLE c;"),
        up("DROP TABLE c;", "-- migrate:up nolint:LS1"),
        up("-- migrate:nolint\nDROP TABLE c;"),
    ],
    ids=["unknown-in-comment", "unknown-in-header", "no-rule"],
)
def test_a_nolint_naming_no_known_rule_is_bad_input(tmp_path, text):
    with pytest.raises(LocatedError) as raised:
        run(tmp_path, text)
    assert raised.value.path.endswith("002_m2.sql") and raised.value.line in (1, 2)


def test_a_nolint_naming_a_retired_rule_is_still_accepted(tmp_path):
    """LS503 (foreign_keys:off over ws://) retired when ws:// learnt to run it: files
    that silence it keep linting, over ws:// too, and it silences nothing else."""
    header = "-- migrate:up foreign_keys:off nolint:LS503"
    text = up("SELECT 1;\n-- migrate:nolint LS503\nDROP TABLE c;", header)
    report = run(tmp_path, text, options=LintOptions(target="ws"))
    assert "LS503" not in rules() and "LS101" in ids(report)
    assert report.suppressed == []


# -- selection and parts -------------------------------------------------------------------


def test_extra_files_are_linted_after_the_folder(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_base.sql").write_text(BASE)
    draft = tmp_path / "drafts" / "002_draft.sql"
    draft.parent.mkdir()
    draft.write_text(up("DROP TABLE c;"))
    from migrate_tasks.lint.selection import files

    chosen, extra = files([str(draft)], folder)
    report = lint(folder, chosen.versions, extra=extra)
    assert ids(report) == ["LS101"] and report.findings[0].path.endswith("002_draft.sql")
    clash = tmp_path / "drafts" / "001_other.sql"
    clash.write_text(up("SELECT 1;"))
    chosen, extra = files([str(clash)], folder)
    with pytest.raises(UsageError, match="has version 001, like"):
        lint(folder, chosen.versions, extra=extra)


@pytest.mark.parametrize(
    ("sql", "kind", "table"),
    [
        ('DROP TABLE IF EXISTS "main"."my table"', "drop_table", "my table"),
        ("CREATE UNIQUE INDEX IF NOT EXISTS i ON t (a)", "create_index", "t"),
        ("ALTER TABLE t ALTER COLUMN c TO c INTEGER NOT NULL", "alter_column", "t"),
        ("ALTER TABLE t RENAME c TO d", "rename_column", "t"),
        ("INSERT OR REPLACE INTO t (a) SELECT coalesce(a, 0) FROM s", "insert", "t"),
        ("-- DROP TABLE x\nSELECT 'DROP TABLE y'", "other", ""),
        ("UPDATE OR IGNORE t SET a = 1", "update", "t"),
        ('insert or ignore into main."my t" (a, b) values (1, 2)', "insert", "my t"),
        ("INSERT /* a comment */ INTO [t] VALUES (1)", "insert", "t"),
        ("DELETE FROM main.t", "delete", "t"),
    ],
)
def test_statement_shapes(sql, kind, table):
    shape = shape_of(sql)
    assert (shape.kind, shape.table) == (kind, table)


def test_check_expressions_keep_their_text():
    sql = "CREATE TABLE t (a INT CHECK (length(a)  >  0), CONSTRAINT x CHECK(a<>'(') )"
    assert check_expressions(sql) == ["CHECK (length(a) > 0)", "CHECK(a<>'(')"]


# -- the corpus ------------------------------------------------------------------------------


def corpus_text() -> str:
    """What the corpus gives, in the two set-ups scripts/gen_lint_expected.py writes."""
    from scripts.gen_lint_expected import render

    return render()


def test_the_rule_pages_in_docs_are_generated_from_the_rules():
    """docs/lint.md's rules part; regenerate with scripts/gen_lint_docs.py."""
    from scripts.gen_lint_docs import PAGE, render

    page = PAGE.read_text(encoding="utf-8")
    assert render(page) == page


def test_the_corpus_has_at_least_30_migrations():
    assert len(list(CORPUS.glob("*.sql"))) >= 30


def test_the_corpus_findings_are_the_expected_ones():
    """A rule change shows here as a diff; regenerate with scripts/gen_lint_expected.py."""
    assert corpus_text() == EXPECTED.read_text(encoding="utf-8")


def test_every_rule_fires_somewhere_in_the_corpus():
    text = EXPECTED.read_text(encoding="utf-8")
    missing = [rule for rule in rules() if f" {rule} " not in text]
    assert missing == []


def test_an_index_or_trigger_dropped_by_name_before_a_rebuild_is_meant_to_go(tmp_path):
    """LS105 is about what the rebuild loses by accident: a DROP INDEX or DROP TRIGGER
    written out says the migration means it; an index kept under another name counts."""
    setup = up(f"CREATE INDEX c_note ON c (note);\n{C_TRIGGER}")
    meant = up(f"DROP INDEX c_note;\nDROP TRIGGER c_touch;\n{REBUILD_C}")
    assert "LS105" not in ids(run(tmp_path / "meant", setup, meant))
    renamed = up(f"{REBUILD_C}\nCREATE INDEX c_by_note ON c (note);\n{C_TRIGGER}")
    assert "LS105" not in ids(run(tmp_path / "renamed", setup, renamed))
    [lost] = [
        f for f in run(tmp_path / "lost", setup, up(REBUILD_C)).findings if f.rule_id == "LS105"
    ]
    assert lost.message == (
        "the rebuild of c drops index c_note and trigger c_touch with the old table and does"
        " not create them again"
    )
