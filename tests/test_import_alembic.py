"""``invoke migrate.import-alembic``: the example blog's Alembic history becomes SQL
migrations that build exactly the schema Alembic builds (on SQLite), in both modes."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

from migrate_tasks.errors import MigrateError, UsageError
from migrate_tasks.from_alembic.importer import import_alembic, write_files
from migrate_tasks.ops.scratch import migrated_scratch
from tests.support.alembic_blog import (
    BLOG_HEAD,
    BLOG_HEAD_VERSION,
    BLOG_INI,
    BLOG_REVISIONS,
    alembic_sqlite,
    user_schema,
    write_alembic_project,
)
from tests.support.project import Project, Run


@pytest.fixture(scope="module")
def alembic_states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of the SQLite database Alembic builds at every revision of the example."""
    folder = tmp_path_factory.mktemp("alembic-states")
    steps = []
    for rev, _version in BLOG_REVISIONS:
        steps += [f"upgrade:{rev}", f"copy:{folder / rev}.db"]
    alembic_sqlite(BLOG_INI, folder / "work.db", *steps)
    return {rev: folder / f"{rev}.db" for rev, _ in BLOG_REVISIONS}


def imported(root: Path, *flags: str) -> Project:
    project = Project(root, f"file:{root / 'app.db'}")
    run = project.invoke("migrate.import-alembic", "--config", str(BLOG_INI), *flags)
    assert run.code == 0, run.err
    return project


@pytest.fixture(scope="module")
def reset_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return imported(tmp_path_factory.mktemp("reset"))


@pytest.fixture(scope="module")
def per_revision_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return imported(tmp_path_factory.mktemp("per-revision"), "--per-revision")


def test_default_mode_writes_one_migration_with_the_head_schema(reset_project, alembic_states):
    files = sorted(p.name for p in reset_project.migrations.iterdir())
    assert files == [f"{BLOG_HEAD_VERSION}_initial_schema.sql"]
    text = (reset_project.migrations / files[0]).read_text()
    assert BLOG_HEAD in text and "alembic_version" not in text.split("-- migrate:up")[1]
    up = reset_project.invoke("migrate.up")
    assert up.code == 0, up.err
    assert user_schema(reset_project.url) == user_schema(f"file:{alembic_states[BLOG_HEAD]}")
    # PostgreSQL's ENUM became a CHECK, JSONB a JSON column, now() CURRENT_TIMESTAMP
    assert "CHECK (role IN ('owner', 'admin', 'member'))" in text
    assert "settings JSON NOT NULL" in text and "CURRENT_TIMESTAMP" in text
    assert "now()" not in text and "JSONB" not in text


def test_per_revision_builds_each_alembic_state_and_rolls_back_step_by_step(
    per_revision_project, alembic_states
):
    """Up gives Alembic's head schema; then each `invoke migrate.down` gives the schema
    Alembic has at the revision before, down to an empty database."""
    project = per_revision_project
    files = sorted(p.name for p in project.migrations.iterdir())
    assert [f.split("_", 1)[0] for f in files] == [v for _, v in BLOG_REVISIONS]
    assert files[0] == "20240110091403_create_users_and_organisations.sql"
    for (rev, _), name in zip(BLOG_REVISIONS, files, strict=True):
        assert f"Alembic revision {rev}" in (project.migrations / name).read_text()
    up = project.invoke("migrate.up")
    assert up.code == 0, up.err
    for rev, _ in reversed(BLOG_REVISIONS):
        assert user_schema(project.url) == user_schema(f"file:{alembic_states[rev]}"), rev
        last = rev == BLOG_REVISIONS[0][0]
        down = project.invoke("migrate.down", *(["--all"] if last else []))
        assert down.code == 0, down.err
    assert user_schema(project.url) == []
    assert set(project.tracking().values()) == {"rolled_back"}


def test_per_revision_batch_rebuilds_run_with_foreign_keys_off(per_revision_project):
    text = next(per_revision_project.migrations.glob("*_add_user_settings.sql")).read_text()
    assert "-- migrate:up foreign_keys:off" in text
    assert "CREATE TABLE _alembic_tmp_users" in text  # the rebuild offline mode cannot render
    assert "ALTER TABLE _alembic_tmp_users RENAME TO users" in text


@pytest.mark.parametrize("mode", ["reset", "per-revision"])
def test_imported_migrations_pass_verify(mode, reset_project, per_revision_project):
    project = reset_project if mode == "reset" else per_revision_project
    run = project.invoke("migrate.verify")
    assert run.code == 0, run.out + run.err


def test_import_is_reproducible(reset_project):
    """Versions come from the revisions' Create Date: importing again gives the same files."""
    again = import_alembic(BLOG_INI)
    assert [(f.filename, f.text) for f in again.files] == [
        (p.name, p.read_text()) for p in sorted(reset_project.migrations.iterdir())
    ]
    assert again.warnings == []


def test_dry_run_through_the_standalone_command_writes_nothing(tmp_path):
    project = Project(tmp_path, f"file:{tmp_path / 'x.db'}")
    # the PostgreSQL URL the team still has in its environment is not even read
    postgres = {"LIBSQL_URL": None, "DATABASE_URL": "postgresql://app@localhost/app"}
    run = project.cli("import-alembic", "--config", str(BLOG_INI), "--dry-run", **postgres)
    assert run.code == 0, run.err
    assert f"-- file: migrations/{BLOG_HEAD_VERSION}_initial_schema.sql" in run.out
    assert "CREATE TABLE post_tags" in run.out
    assert not project.migrations.exists()


def test_a_folder_with_migrations_is_refused_unless_force(tmp_path):
    project = Project(tmp_path, f"file:{tmp_path / 'x.db'}")
    project.write("20200101000000_existing.sql", "-- migrate:up\nSELECT 1;\n")
    run = project.invoke("migrate.import-alembic", "--config", str(BLOG_INI))
    assert run.code == 2
    assert "already has migrations (20200101000000_existing.sql)" in run.err
    assert "--force" in run.err and "Traceback" not in run.err
    forced = project.invoke("migrate.import-alembic", "--config", str(BLOG_INI), "--force")
    assert forced.code == 0, forced.err
    assert len(list(project.migrations.iterdir())) == 2
    files = import_alembic(BLOG_INI).files
    with pytest.raises(UsageError, match="is taken"):  # --force never overwrites
        write_files(project.migrations, files, force=True)


def test_missing_configuration_is_a_clear_error(tmp_path):
    project = Project(tmp_path, f"file:{tmp_path / 'x.db'}")
    run = project.invoke("migrate.import-alembic")
    assert run.code == 2
    assert "no Alembic configuration at alembic.ini" in run.err
    assert "--config" in run.err and "Traceback" not in run.err


# -- histories that need care (in-process: these env.py files leave logging alone) ----------

CREATE_A = 'op.create_table("a", sa.Column("id", sa.Integer, primary_key=True))'
CREATE_B = 'op.create_table("b", sa.Column("id", sa.Integer, primary_key=True))'
CREATE_C = 'op.create_table("c", sa.Column("id", sa.Integer, primary_key=True))'
BRANCHES = [
    ("base1", None, "base", CREATE_A, 'op.drop_table("a")'),
    ("left1", "base1", "left", CREATE_B, 'op.drop_table("b")'),
    ("right1", "base1", "right", CREATE_C, 'op.drop_table("c")'),
]


def built_tables(files, tmp_path: Path) -> dict[str, list[tuple]]:
    """Apply imported files on a scratch database: every table and its rows."""
    written = write_files(tmp_path / "migrations", files)
    with migrated_scratch(written[0].parent) as engine:
        names = [
            r[0]
            for r in engine.driver.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'schema_migrations%' ORDER BY name"
            )
        ]
        return {n: engine.driver.query(f'SELECT * FROM "{n}" ORDER BY 1') for n in names}


def test_several_heads_are_refused_with_their_names(tmp_path):
    ini = write_alembic_project(tmp_path, BRANCHES)
    with pytest.raises(UsageError) as info:
        import_alembic(ini)
    message = str(info.value)
    assert "2 heads" in message and 'left1 ("left")' in message and 'right1 ("right")' in message
    assert "alembic merge heads" in message


def test_a_merged_history_imports_as_one_migration_but_not_per_revision(tmp_path):
    merged = [*BRANCHES, ("merge1", ("left1", "right1"), "merge", "", "")]
    ini = write_alembic_project(tmp_path / "app", merged)
    with pytest.raises(UsageError, match="needs a linear Alembic history") as info:
        import_alembic(ini, per_revision=True)
    assert "merge1" in str(info.value) and 'base1 ("base") branches into' in str(info.value)
    outcome = import_alembic(ini)
    assert set(built_tables(outcome.files, tmp_path)) == {"a", "b", "c"}


@pytest.mark.parametrize("per_revision", [False, True], ids=["reset", "per-revision"])
def test_rows_the_history_inserts_are_kept(tmp_path, per_revision):
    plans = """
        plans = op.create_table(
            "plans",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(20), nullable=False),
        )
        op.bulk_insert(plans, [{"id": 1, "name": "free"}, {"id": 2, "name": "it's pro"}])
        op.execute(sa.text("UPDATE plans SET name = :n WHERE id = 1").bindparams(n="basic"))
    """
    ini = write_alembic_project(
        tmp_path / "app", [("r1", None, "plans", plans, 'op.drop_table("plans")')]
    )
    outcome = import_alembic(ini, per_revision=per_revision)
    assert built_tables(outcome.files, tmp_path)["plans"] == [(1, "basic"), (2, "it's pro")]


NOTES_TABLE = "CREATE TABLE notes (\n\tid INTEGER PRIMARY KEY,   \n\tbody TEXT\n)"
NOTES_ROW = "INSERT INTO notes (body) VALUES ('tab\there')"
LABELS_TABLE = """
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sep", sa.Text, server_default="\\t"),
    )
"""


@pytest.mark.parametrize("per_revision", [False, True], ids=["reset", "per-revision"])
def test_the_projects_own_sql_and_every_literal_keep_their_bytes(tmp_path, per_revision):
    """Before: tabs became two spaces and trailing spaces went, in op.execute text and
    inside one-line string literals ('tab\\there' was imported as 'tab  here')."""
    up = f"op.execute({NOTES_TABLE!r})\nop.execute({NOTES_ROW!r})\n{textwrap.dedent(LABELS_TABLE)}"
    ini = write_alembic_project(
        tmp_path / "app",
        [("r1", None, "notes", up, 'op.drop_table("labels")\nop.drop_table("notes")')],
    )
    [file] = import_alembic(ini, per_revision=per_revision).files
    assert NOTES_TABLE in file.text
    assert "DEFAULT '\t'" in file.text  # SQLAlchemy's DDL is tidied, its literals are not
    if per_revision:
        assert NOTES_ROW in file.text
    assert built_tables([file], tmp_path)["notes"] == [(1, "tab\there")]


def test_a_default_libsql_cannot_evaluate_is_reported(tmp_path):
    events = """
        op.create_table(
            "events",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("at", sa.DateTime, server_default=sa.text("now()")),
        )
    """
    ini = write_alembic_project(
        tmp_path, [("r1", None, "events", events, 'op.drop_table("events")')]
    )
    outcome = import_alembic(ini)
    [warning] = outcome.warnings
    assert "events.at has DEFAULT now()" in warning and "CURRENT_TIMESTAMP" in warning


def test_postgresql_only_sql_names_the_revision(tmp_path):
    mood = "op.execute(\"CREATE TYPE mood AS ENUM ('sad', 'ok')\")"
    ini = write_alembic_project(
        tmp_path,
        [
            ("r1", None, "table a", CREATE_A, 'op.drop_table("a")'),
            ("r2", "r1", "mood type", mood, 'op.execute("DROP TYPE mood")'),
        ],
    )
    with pytest.raises(MigrateError) as info:
        import_alembic(ini)
    assert info.value.exit_code == 1
    assert "in revision r2 ('mood type'" in str(info.value)
    assert "CREATE TYPE mood" in str(info.value)


def test_an_env_py_with_its_own_url_is_given_the_scratch_database(tmp_path):
    """env.py ignores sqlalchemy.url (a URL from the application's settings): its engine is
    made for the scratch file instead, and its own database is never touched."""
    elsewhere = tmp_path / "production.db"
    ini = write_alembic_project(
        tmp_path / "app",
        [("r1", None, "table a", CREATE_A, 'op.drop_table("a")')],
        url_expression=repr(f"sqlite:///{elsewhere}"),
    )
    outcome = import_alembic(ini)
    assert set(built_tables(outcome.files, tmp_path)) == {"a"}
    [warning] = outcome.warnings
    assert "env.py asked for a sqlite database" in warning and str(elsewhere) not in warning
    assert not elsewhere.exists()


def test_an_engine_the_application_makes_but_never_uses_is_not_reported(tmp_path):
    """Importing the application often builds its engine at module level; only an
    engine env.py actually runs the history through is worth a warning."""
    ini = write_alembic_project(
        tmp_path / "app",
        [("r1", None, "table a", CREATE_A, 'op.drop_table("a")')],
        env_prelude='import sqlalchemy\n_app = sqlalchemy.create_engine("postgresql://x@db.invalid/x")',
    )
    outcome = import_alembic(ini)
    assert outcome.warnings == []
    assert set(built_tables(outcome.files, tmp_path)) == {"a"}


def test_an_engine_made_before_the_import_is_still_refused(tmp_path, monkeypatch):
    """The connection guard behind the redirection: an engine a module built before
    import-alembic ran (so not through create_engine during the run) cannot connect."""
    import sqlalchemy

    elsewhere = tmp_path / "production.db"
    prebuilt = types.ModuleType("prebuilt_engine")
    prebuilt.engine = sqlalchemy.create_engine(f"sqlite:///{elsewhere}")
    monkeypatch.setitem(sys.modules, "prebuilt_engine", prebuilt)
    ini = write_alembic_project(
        tmp_path / "app",
        [("r1", None, "table a", CREATE_A, 'op.drop_table("a")')],
        env_prelude="from prebuilt_engine import engine",
    )
    env_py = ini.parent / "alembic" / "env.py"
    env_py.write_text(
        env_py.read_text().replace("with connectable.connect()", "with engine.connect()")
    )
    with pytest.raises(UsageError, match="other than the scratch SQLite database") as info:
        import_alembic(ini)
    prebuilt.engine.dispose()
    assert "sqlalchemy.url" in str(info.value)
    assert not elsewhere.exists()


# -- the same input gives the same bytes --------------------------------------------------------

CHILD = """
    for name in ("a", "b", "c"):
        op.create_table(name, sa.Column("id", sa.Integer, primary_key=True))
    op.create_table(
        "child",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a_id", sa.Integer, sa.ForeignKey("a.id")),
        sa.Column("b_id", sa.Integer, sa.ForeignKey("b.id", ondelete="CASCADE")),
        sa.Column("c_id", sa.Integer, sa.ForeignKey("c.id")),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("child.id")),
        sa.Column("name", sa.String(20)),
        sa.UniqueConstraint("a_id", "b_id"),
        sa.UniqueConstraint("b_id", "c_id"),
    )
    for column in ("a_id", "b_id", "c_id", "name"):
        op.create_index(f"ix_child_{column}", "child", [column])
"""
DROP_CHILD = 'for name in ("child", "c", "b", "a"):\n    op.drop_table(name)'
LONGER_NAME = """
    with op.batch_alter_table("child") as batch_op:
        batch_op.alter_column("name", type_=sa.String({}))
"""
BATCH_HISTORY = [
    ("t1", None, "tables", CHILD, DROP_CHILD),
    ("t2", "t1", "longer name", LONGER_NAME.format(50), LONGER_NAME.format(20)),
    ("t3", "t2", "even longer name", LONGER_NAME.format(80), LONGER_NAME.format(50)),
]


@pytest.mark.parametrize("flags", [(), ("--per-revision",)], ids=["reset", "per-revision"])
def test_every_run_writes_the_same_bytes(tmp_path, flags):
    """Batch rebuilds copy a table's foreign keys, unique constraints and indexes from
    sets ordered by memory address; the files must not depend on that (nor on the seed
    of Python's string hashing)."""
    ini = write_alembic_project(tmp_path / "app", BATCH_HISTORY)
    outputs = {}
    for seed in ("0", "1", "2", "3"):
        project = Project(tmp_path / f"run{seed}", f"file:{tmp_path / 'unused.db'}")
        run = project.invoke(
            "migrate.import-alembic", "--config", str(ini), *flags, PYTHONHASHSEED=seed
        )
        assert run.code == 0, run.err
        files = sorted(project.migrations.iterdir())
        outputs[seed] = [(p.name, p.read_bytes()) for p in files]
    assert b"FOREIGN KEY(c_id) REFERENCES c (id)" in outputs["0"][-1][1]
    assert all(files == outputs["0"] for files in outputs.values())


# -- a project that cannot be loaded, or a revision SQLite refuses: one clear error -------------

PROGRAMS = ["invoke", "libsql-migrate"]
SECOND = [
    ("r1", None, "table a", CREATE_A, 'op.drop_table("a")'),
    ("r2", "r1", "second", 'op.execute("SELECT 1")', ""),
]
SETTINGS_PY = 'import os\n\nDATABASE_URL = os.environ["APP_DATABASE_URL"]\n'


def run_import(program: str, project: Project, *flags: str) -> Run:
    """import-alembic as a user types it, with the project's folder importable."""
    env = {"PYTHONPATH": str(project.root)}
    if program == "invoke":
        return project.invoke("migrate.import-alembic", *flags, **env)
    return project.cli("import-alembic", *flags, **env)


def alembic_project(root: Path, revisions=SECOND, *, app: bool = False, **options) -> Project:
    """An Alembic project in a user's folder (alembic.ini at its root), optionally with an
    application package whose settings need an environment variable that is not set."""
    project = Project(root, f"file:{root / 'app.db'}")
    write_alembic_project(root, revisions, **options)
    if app:
        (root / "app").mkdir()
        (root / "app" / "__init__.py").write_text("")
        (root / "app" / "settings.py").write_text(SETTINGS_PY)
    return project


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def assert_one_error(run: Run, code: int, *parts: str) -> str:
    assert run.code == code, run.out + run.err
    assert "Traceback" not in run.err
    first = run.err.splitlines()[0]
    assert first.startswith("error: "), run.err
    for part in parts:
        assert part in first, run.err
    return first


LOAD_FAILURES = {
    "a revision imports a missing package": (
        {"preludes": {"r2": "import notapkg_xyz"}},
        "r2",
        "import notapkg_xyz",
        "Alembic cannot import this revision: ModuleNotFoundError: No module named 'notapkg_xyz'",
    ),
    "a revision loads settings that fail": (
        {"preludes": {"r2": "from app.settings import DATABASE_URL"}, "app": True},
        "r2",
        "from app.settings",
        "KeyError: 'APP_DATABASE_URL' (raised at app/settings.py:3)",
    ),
    "a revision has a syntax error": (
        {"preludes": {"r2": "def broken(:\n    pass"}},
        "r2",
        "def broken(:",
        "Alembic cannot import this revision: SyntaxError: ",
    ),
    "env.py raises": (
        {"env_prelude": 'raise RuntimeError("set APP_ENV first")'},
        "env",
        "raise RuntimeError",
        "env.py raised RuntimeError: set APP_ENV first",
    ),
    "env.py loads settings that fail": (
        {"env_prelude": "from app.settings import DATABASE_URL", "app": True},
        "env",
        "from app.settings",
        "env.py raised KeyError: 'APP_DATABASE_URL' (raised at app/settings.py:3)",
    ),
    "env.py calls sys.exit": (
        {"env_prelude": 'import sys\nsys.exit("APP_DATABASE_URL is not set")'},
        "env",
        "sys.exit(",
        "env.py raised SystemExit: APP_DATABASE_URL is not set",
    ),
}


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("case", list(LOAD_FAILURES))
def test_a_project_that_cannot_be_loaded_is_one_error_naming_the_file(tmp_path, case, program):
    options, where, text, reason = LOAD_FAILURES[case]
    project = alembic_project(tmp_path, **options)
    path = tmp_path / "alembic" / ("env.py" if where == "env" else "versions/r2_1.py")
    run = run_import(program, project)
    location = f"{path.relative_to(tmp_path)}:{line_of(path, text)}: "
    assert_one_error(run, 2, f"error: {location}", reason)
    assert not project.migrations.exists()


@pytest.mark.parametrize("program", PROGRAMS)
def test_an_env_py_import_failure_names_the_import_not_the_url(tmp_path, program):
    """Before: 'Alembic could not start ... env.py must take its URL from the configuration'."""
    project = alembic_project(tmp_path, env_prelude="from app.models import Base")
    run = run_import(program, project)
    env_py = tmp_path / "alembic" / "env.py"
    line = assert_one_error(
        run,
        2,
        f"error: alembic/env.py:{line_of(env_py, 'from app.models')}: env.py raised",
        "ModuleNotFoundError: No module named 'app'",
        "run it from the project's root folder",
    )
    assert "URL" not in line and "could not start" not in line


@pytest.mark.parametrize("program", PROGRAMS)
def test_an_env_py_that_builds_a_postgresql_engine_runs_on_the_scratch_database(tmp_path, program):
    """Before: 'env.py connected to a database other than the scratch SQLite database'
    (or the PostgreSQL driver missing): an env.py edit for a one-off import."""
    url = repr("postgresql://app:s3cret-pw@db.invalid/app")
    project = alembic_project(tmp_path, url_expression=url)
    run = run_import(program, project)
    assert run.code == 0, run.err
    assert "env.py asked for a postgresql database" in run.err
    assert "s3cret-pw" not in run.out + run.err and "db.invalid" not in run.out + run.err
    assert len(list(project.migrations.iterdir())) == 1


def test_an_async_env_py_is_refused_with_the_reason(tmp_path):
    project = alembic_project(
        tmp_path, env_prelude="from sqlalchemy.ext.asyncio import async_engine_from_config"
    )
    env_py = tmp_path / "alembic" / "env.py"
    text = env_py.read_text().replace(
        "connectable = engine_from_config(", "connectable = async_engine_from_config("
    )
    env_py.write_text(text)
    run = run_import("invoke", project)
    assert_one_error(run, 2, "error: env.py creates an async engine", "synchronous env.py")
    assert not project.migrations.exists()


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_create_date_that_is_not_a_date_is_ignored_as_alembic_does(tmp_path, program):
    project = alembic_project(tmp_path, dates={"r2": "Create Date: 2023-21-02 14:30:00"})
    run = run_import(program, project, "--per-revision")
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    assert "alembic/versions/r2_1.py: Create Date 2023-21-02 14:30:00 is not a date" in run.err
    names = sorted(p.name for p in project.migrations.iterdir())
    # r1 is dated 2024-05-01 10:00:00; r2 follows it by a second
    assert names == ["20240501100000_table_a.sql", "20240501100001_second.sql"]


def test_versions_without_create_dates_do_not_depend_on_the_clock(tmp_path):
    """Before: revisions without a Create Date were versioned from the time of the import."""
    third = ("r3", "r2", "third", 'op.execute("SELECT 3")', "")
    no_date = {"r1": "", "r3": ""}
    dated = import_alembic(
        write_alembic_project(tmp_path / "one", [*SECOND, third], dates=no_date),
        per_revision=True,
    )
    # r2 is dated 2024-05-02 10:00:00: r1 counts back from it, r3 on from it
    versions = [f.filename[:14] for f in dated.files]
    assert versions == ["20240502095959", "20240502100000", "20240502100001"]
    outcome = import_alembic(
        write_alembic_project(tmp_path / "two", SECOND, dates={"r1": "", "r2": ""}),
        per_revision=True,
    )
    assert [f.filename[:14] for f in outcome.files] == ["20000101000000", "20000101000001"]
    assert any("no revision has a Create Date" in w for w in outcome.warnings)


#: A phrase of each hint: a failure gets the one that fits and no other.
HINTS = {
    "batch": "batch_alter_table",
    "dialect": "dialect check",
    "outside": "outside the Alembic history",
}
SQLITE_REFUSES = {
    "ALTER COLUMN outside batch mode": (
        'op.alter_column("a", "id", type_=sa.BigInteger)',
        "statement: ALTER TABLE a ALTER COLUMN id TYPE BIGINT",
        "batch",
        'with op.batch_alter_table("a") as batch_op:',
    ),
    "a constraint added outside batch mode": (
        'op.create_unique_constraint("uq_a_id", "a", ["id"])',
        "NotImplementedError: No support for ALTER of constraints",
        "batch",
        'with op.batch_alter_table("a") as batch_op:',
    ),
    "PostgreSQL-only SQL": (
        'op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")',
        'near "EXTENSION": syntax error',
        "dialect",
        'if op.get_context().dialect.name == "postgresql":',
    ),
    "a table made outside the history": (
        'op.execute("UPDATE legacy_users SET active = 1")',
        "no such table: legacy_users",
        "outside",
        "depends on tables or data made outside the Alembic history",
    ),
}


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("case", list(SQLITE_REFUSES))
def test_a_revision_sqlite_refuses_gets_the_hint_that_fits(tmp_path, case, program):
    """Before: every failure got the PostgreSQL dialect-check hint."""
    body, reason, fits, advice = SQLITE_REFUSES[case]
    project = alembic_project(tmp_path, [SECOND[0], ("r2", "r1", "second", body, "")])
    run = run_import(program, project)
    path = tmp_path / "alembic" / "versions" / "r2_1.py"
    where = f"{path.relative_to(tmp_path)}:{line_of(path, body)}"
    assert_one_error(run, 1, f"in revision r2 ('second', {where})")
    assert reason in run.err and advice in run.err, run.err
    assert [k for k, phrase in HINTS.items() if phrase in run.err] == [fits], run.err
    if fits == "outside":  # the way out the hint offers, spelt for the program that ran
        generate = "invoke migrate.generate" if program == "invoke" else "libsql-migrate generate"
        assert f"`{generate} initial_schema --models" in run.err, run.err
    assert not project.migrations.exists()


def test_a_flask_migrate_configuration_is_recognised(tmp_path):
    """Flask-Migrate's alembic.ini has no script_location (Flask-Migrate passes the folder)
    and its env.py needs the Flask application: say so instead of 'is it Alembic's?'."""
    project = alembic_project(tmp_path)
    ini = tmp_path / "alembic" / "alembic.ini"
    ini.write_text("[alembic]\n# template used to generate migration files\n")
    run = run_import("invoke", project, "--config", "alembic/alembic.ini")
    assert_one_error(run, 2, "alembic/alembic.ini has no script_location", "Flask-Migrate")
    assert "invoke migrate.generate initial_schema --models" in run.err
