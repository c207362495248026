"""Configuration, logging and auth as a user meets them: the real programs, real files.

The tests of config files and the project's sys.path run real processes of both programs
(``real_processes``); the others run them in-process (tests/support/project.py).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.project import Project, Run

M1 = "-- migrate:up\nCREATE TABLE one (id INTEGER);\n-- migrate:down\nDROP TABLE one;\n"
M2 = "-- migrate:up\nCREATE TABLE two (id INTEGER);\n-- migrate:down\nDROP TABLE two;\n"


@pytest.fixture
def project(tmp_path) -> Project:
    p = Project(tmp_path / "app", "unused")
    p.write("20250101000001_one.sql", M1)
    p.write("20250101000002_two.sql", M2)
    return p


def tables(path) -> set[str]:
    from migrate_tasks.drivers import open_driver

    with open_driver(f"file:{path}") as d:
        return {r[0] for r in d.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def without_url(project: Project, *args: str, **env: str):
    """Run with no LIBSQL_URL in the environment, so config files decide."""
    return project.invoke(*args, LIBSQL_URL=None, **env)


class Program:
    """One of the two entry points, run the way a user types it: ``invoke migrate.TASK``
    or ``libsql-migrate TASK``. Both must read the same configuration."""

    def __init__(self, name: str, project: Project) -> None:
        self.name = name
        self.project = project

    def __call__(
        self, task: str, *args: str, core: tuple[str, ...] = (), cwd=None, **env: str | None
    ) -> Run:
        """Run TASK with no LIBSQL_URL unless given; ``core``: flags before the task
        (``-f FILE``)."""
        env.setdefault("LIBSQL_URL", None)
        if self.name == "invoke":
            return self.project.invoke(*core, f"migrate.{task}", *args, cwd=cwd, **env)
        return self.project.cli(*core, task, *args, cwd=cwd, **env)

    def command(self, task_and_args: str) -> str:
        """How a message must spell a command for this program."""
        prefix = "invoke migrate." if self.name == "invoke" else "libsql-migrate "
        return prefix + task_and_args


@pytest.fixture(params=["invoke", "libsql-migrate"])
def program(request, project: Project) -> Program:
    return Program(request.param, project)


def test_default_is_dev_db_in_the_working_directory(program):
    run = program("up")
    assert run.code == 0, run.err
    assert "database file:dev.db (from default)" in run.err
    assert {"one", "two", "schema_migrations", "schema_migrations_log"} <= tables(
        program.project.root / "dev.db"
    )


def test_precedence_through_invoke_yaml_dotenv_env_and_flags(program):
    root = program.project.root
    (root / "invoke.yaml").write_text(
        "migrate:\n"
        "  url: file:yaml.db\n"
        "  table: tracked\n"
        "  environments:\n"
        "    staging:\n"
        "      url: file:staging.db\n"
    )
    run = program("up", "--step", "1")
    assert run.code == 0, run.err
    assert "database file:yaml.db (from invoke config)" in run.err
    assert {"one", "tracked", "tracked_log"} <= tables(root / "yaml.db")
    assert "schema_migrations" not in tables(root / "yaml.db")

    run = program("up", "--env", "staging")
    assert run.code == 0, run.err
    assert "environment staging" in run.err
    assert {"one", "two", "tracked"} <= tables(root / "staging.db")

    (root / ".env").write_text("LIBSQL_URL=file:dotenv.db\n")
    run = program("up", "--env", "staging")
    assert run.code == 0, run.err
    assert "(from LIBSQL_URL (.env)" in run.err
    assert "two" in tables(root / "dotenv.db")

    run = program("up", LIBSQL_URL="file:envvar.db")
    assert run.code == 0, run.err
    assert "two" in tables(root / "envvar.db")

    run = program("up", "--url", "file:flag.db", LIBSQL_URL="file:envvar.db")
    assert run.code == 0, run.err
    assert "two" in tables(root / "flag.db")

    # INVOKE_MIGRATE_TABLE is Invoke's own config layer: it beats invoke.yaml's "tracked"
    run = program("status", "--json", INVOKE_MIGRATE_TABLE="other", LIBSQL_URL="file:yaml.db")
    assert run.code == 0, run.err
    assert [m["state"] for m in run.json["migrations"]] == ["pending", "pending"]


def test_bad_table_prefix_in_config_is_refused(program):
    (program.project.root / "invoke.yaml").write_text('migrate:\n  table: "x; DROP TABLE y"\n')
    run = program("up")
    assert run.code == 2 and "invalid table name" in run.err
    assert not (program.project.root / "dev.db").exists()


def test_dir_from_migrations_dir_variable_and_config(program):
    project = program.project
    moved = project.root / "db" / "migrations"
    moved.parent.mkdir()
    project.migrations.rename(moved)
    run = program("status", MIGRATIONS_DIR="db/migrations")
    assert run.code == 0, run.err
    assert "0 of 2 migrations applied" in run.out
    (project.root / "invoke.yaml").write_text("migrate:\n  dir: db/migrations\n")
    run = program("status")
    assert run.code == 0, run.err
    assert "0 of 2 migrations applied" in run.out


def test_the_two_programs_share_one_history(project):
    """The reported case: invoke migrated app.db; libsql-migrate must see that, not dev.db."""
    (project.root / "invoke.yaml").write_text(
        "migrate: {url: 'file:app.db', table: app_migrations}\n"
    )
    run = without_url(project, "migrate.up", "--step", "1")
    assert run.code == 0, run.err
    status = project.cli("status", "--json", LIBSQL_URL=None)
    assert status.code == 0, status.err
    assert status.json["target"] == "file:app.db"
    assert [m["state"] for m in status.json["migrations"]] == ["applied", "pending"]
    run = project.cli("up", "--url", "file:app.db", LIBSQL_URL=None)
    assert run.code == 0, run.err
    assert "applied 20250101000002_two" in run.err and "20250101000001" not in run.err
    assert not (project.root / "dev.db").exists()
    assert "schema_migrations" not in tables(project.root / "app.db")
    back = without_url(project, "migrate.status", "--check")
    assert back.code == 0, back.out + back.err


CONFIG_FILES = {
    "invoke.yaml": "migrate:\n  url: file:{db}\n  table: {table}\n",
    "invoke.yml": "migrate:\n  url: file:{db}\n  table: {table}\n",
    "invoke.json": '{{"migrate": {{"url": "file:{db}", "table": "{table}"}}}}',
    "invoke.py": "migrate = {{'url': 'file:{db}', 'table': '{table}'}}\n",
}


@pytest.mark.parametrize("filename", sorted(CONFIG_FILES))
def test_every_project_config_format(program, filename):
    root = program.project.root
    (root / filename).write_text(CONFIG_FILES[filename].format(db="conf.db", table="conf"))
    run = program("up")
    assert run.code == 0, run.err
    assert "database file:conf.db (from invoke config)" in run.err
    assert {"one", "two", "conf", "conf_log"} <= tables(root / "conf.db")


@pytest.mark.real_processes  # config files as a user's shell meets them: HOME, -f, INVOKE_*
def test_user_config_runtime_file_and_variables_in_invoke_order(program, tmp_path):
    """User file < project file < INVOKE_MIGRATE_* < runtime file (-f) < .env < variables
    < flags: Invoke's own hierarchy for its layers, ours above it."""
    root = program.project.root
    home = tmp_path / "home"
    home.mkdir()
    (home / ".invoke.yaml").write_text("migrate:\n  url: file:user.db\n  table: user_t\n")

    def where(*args: str, core: tuple[str, ...] = (), **env: str) -> tuple[str, str]:
        run = program("up", *args, core=core, HOME=str(home), **env)
        assert run.code == 0, run.err
        line = next(x for x in run.err.splitlines() if "database " in x)
        db = line.split("database file:")[1].split()[0]
        return db, sorted(t for t in tables(root / db) if t.endswith("_log"))[0][:-4]

    assert where() == ("user.db", "user_t")
    (root / "invoke.yaml").write_text("migrate:\n  url: file:project.db\n")
    assert where() == ("project.db", "user_t")  # the table still comes from the user file
    assert where(INVOKE_MIGRATE_URL="file:variable.db") == ("variable.db", "user_t")
    (root / "runtime.yaml").write_text("migrate:\n  url: file:runtime.db\n  table: rt\n")
    runtime = ("-f", "runtime.yaml")
    assert where(core=runtime, INVOKE_MIGRATE_URL="file:variable.db") == ("runtime.db", "rt")
    assert where(INVOKE_RUNTIME_CONFIG="runtime.yaml") == ("runtime.db", "rt")
    (root / ".env").write_text("LIBSQL_URL=file:dotenv.db\n")
    assert where(core=runtime) == ("dotenv.db", "rt")
    assert where(core=runtime, LIBSQL_URL="file:real.db") == ("real.db", "rt")
    assert where("--url", "file:flag.db", core=runtime, LIBSQL_URL="file:real.db") == (
        "flag.db",
        "rt",
    )


def test_environments_protected_and_lock_timeout_from_config(program):
    from tests.test_safety import hold_lock

    project = program.project
    (project.root / "invoke.yaml").write_text(
        "migrate:\n"
        "  environments:\n"
        "    production:\n"
        "      url: file:prod.db\n"
        "      protected: true\n"
        "      lock_timeout: 0.5\n"
    )
    run = program("up", "--env", "production")
    assert run.code == 0, run.err
    assert "(from invoke config (environments.production), environment production)" in run.err
    run = program("down", "--env", "production")
    assert run.code == 2, run.err
    assert "environment 'production' is protected" in run.err and "--yes" in run.err
    unknown = program("status", "--env", "staging")
    assert unknown.code == 2 and "unknown environment 'staging' (known: production)" in unknown.err

    project.url = f"file:{project.root / 'prod.db'}"
    hold_lock(project, host="build-7", pid=4242, expires_in=600)
    run = program("down", "--env", "production", "--yes")
    assert run.code == 4, run.err
    assert "timed out after 0.5 s" in run.err
    assert program.command("unlock") in run.err


@pytest.mark.real_processes  # the project folder on a fresh interpreter's sys.path
def test_models_from_config_and_the_project_folder_on_sys_path(program):
    """``migrate.models`` is read by both; the project folder (where tasks.py is, or the
    working directory without one) is importable, even when run from a subfolder."""
    project = program.project
    package = project.root / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
        "class Base(DeclarativeBase):\n    pass\n\n\n"
        "class Order(Base):\n    __tablename__ = 'orders'\n"
        "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    )
    (project.root / "invoke.yaml").write_text(
        f"migrate:\n  models: shop.models:Base\n  dir: {project.migrations}\n"
    )
    run = program("generate", "add_orders", "--dry-run")
    assert run.code == 0, run.err
    assert "CREATE TABLE orders" in run.out
    sub = project.root / "docs"
    sub.mkdir()
    run = program("generate", "add_orders", "--dry-run", cwd=sub)
    assert run.code == 0, run.err
    assert "CREATE TABLE orders" in run.out


@pytest.mark.real_processes  # each program's own start-up finds the project
def test_the_project_is_found_like_invoke_finds_it(program):
    """From a subfolder: the folder of the nearest tasks.py above is the project. Without a
    tasks.py anywhere above, libsql-migrate takes the working directory."""
    project = program.project
    (project.root / "invoke.yaml").write_text(
        f"migrate:\n  dir: {project.migrations}\n  table: found\n"
    )
    sub = project.root / "src" / "deep"
    sub.mkdir(parents=True)
    run = program("up", cwd=sub)
    assert run.code == 0, run.err
    assert "found" in tables(sub / "dev.db")  # relative URLs stay relative to the cwd
    if program.name == "invoke":
        return
    (project.root / "tasks.py").unlink()
    alone = program("status", "--json", cwd=project.root)
    assert alone.code == 0, alone.err
    assert [m["state"] for m in alone.json["migrations"]] == ["pending", "pending"]
    (sub / "dev.db").unlink()
    (sub / "invoke.yaml").write_text(f"migrate:\n  dir: {project.migrations}\n  table: here\n")
    run = program("up", cwd=sub)
    assert run.code == 0, run.err
    assert "here" in tables(sub / "dev.db")


@pytest.mark.real_processes  # the project folder on a fresh interpreter's sys.path
def test_import_alembic_imports_the_project_package(program):
    """An env.py that imports the application (no prepend_sys_path in alembic.ini)."""
    from tests.support.alembic_blog import write_alembic_project

    project = program.project
    ini = write_alembic_project(
        project.root,
        [("r1", None, "table a", 'op.create_table("a", sa.Column("id", sa.Integer))', "")],
    )
    env_py = project.root / "alembic" / "env.py"
    env_py.write_text("import blogapp.settings  # noqa: F401\n" + env_py.read_text())
    for migration in project.migrations.iterdir():
        migration.unlink()
    missing = program("import-alembic", "--config", str(ini), "--dry-run")
    assert missing.code == 2, missing.err
    assert "env.py:1: env.py raised ModuleNotFoundError: No module named 'blogapp'" in missing.err
    assert "URL" not in missing.err and "Traceback" not in missing.err
    (project.root / "blogapp").mkdir()
    (project.root / "blogapp" / "__init__.py").write_text("")
    (project.root / "blogapp" / "settings.py").write_text("DEBUG = False\n")
    run = program("import-alembic", "--config", str(ini), "--dry-run")
    assert run.code == 0, run.err
    assert "CREATE TABLE a" in run.out
    if program.name == "libsql-migrate":
        (project.root / "tasks.py").unlink()
        run = program("import-alembic", "--config", str(ini), "--dry-run")
        assert run.code == 0, run.err


def test_suggested_commands_name_the_program_that_ran(program):
    project = program.project
    assert program("up").code == 0
    edited = project.migrations / "20250101000002_two.sql"
    edited.write_text(M2 + "-- edited\n")
    run = program("up")
    assert run.code == 3, run.err
    assert program.command("repair 20250101000002") in run.err
    edited.write_text(M2)
    run = program("dump", "--check")
    assert run.code == 3, run.err
    assert program.command("dump") in run.err
    run = program("status", "--dir", "nowhere")
    assert run.code == 2, run.err
    assert program.command("create NAME") in run.err
    other = "libsql-migrate " if program.name == "invoke" else "invoke migrate."
    assert other not in run.err


def test_log_formats_and_verbosity(project):
    run = without_url(project, "migrate.up", "--log-format", "json", "-v")
    assert run.code == 0, run.err
    lines = [json.loads(line) for line in run.err.splitlines()]
    assert all(set(line) == {"time", "level", "logger", "message"} for line in lines)
    assert all(line["logger"] == "migrate_tasks" for line in lines)
    messages = [line["message"] for line in lines]
    assert any("CREATE TABLE one (id INTEGER)" in m for m in messages)  # statement detail
    applied = [m for m in messages if m.startswith("applied 20250101000001_one in")]
    assert len(applied) == 1
    quiet = without_url(project, "migrate.down")
    assert quiet.code == 0
    assert "DROP TABLE" not in quiet.err and "rolled back 20250101000002_two in" in quiet.err


@pytest.mark.parametrize("transport", ["http", "ws"])
def test_auth_errors_are_distinct_and_never_show_the_token(project, jwt_sqld, transport):
    url = jwt_sqld.http_url if transport == "http" else jwt_sqld.ws_url
    now = int(time.time())
    good = jwt_sqld.mint({"exp": now + 3600})
    expired = jwt_sqld.mint({"exp": now - 3600})
    read_only = jwt_sqld.mint({"exp": now + 3600, "a": "ro"})
    garbage = "not-a-jwt-" + "x" * 30

    cases = [
        ("", "requires an auth token and none was given"),
        (garbage, "invalid"),
        (expired, "expired"),
        (read_only, "cannot write"),
    ]
    for token, fragment in cases:
        env = {"LIBSQL_AUTH_TOKEN": token} if token else {}
        run = project.invoke("migrate.up", "--url", url, **env)
        assert run.code == 5, (token[:8], run.err)
        assert fragment in run.err, run.err
        assert "Traceback" not in run.err
        if token:
            assert token not in run.out + run.err

    run = project.invoke("migrate.up", "--url", url, "--auth-token", good, "-v")
    assert run.code == 0, run.err
    assert good not in run.out + run.err
    status = project.invoke("migrate.status", "--json", "--url", url, LIBSQL_AUTH_TOKEN=read_only)
    assert status.code == 0, status.err  # a read-only token may read the status
    assert [m["state"] for m in status.json["migrations"]] == ["applied", "applied"]
    assert read_only not in status.out + status.err


BAD_CONFIG = {
    "invoke.yaml": ("migrate:\n  url: [unclosed\n", "invoke.yaml"),
    "invoke.json": ('{"migrate": ', "JSONDecodeError"),
    "invoke.py": ("raise RuntimeError('settings failed to load')\n", "settings failed to load"),
}


@pytest.mark.parametrize("filename", sorted(BAD_CONFIG))
def test_a_config_file_that_cannot_be_read_is_one_error_line(project, filename):
    """libsql-migrate owns its program: a broken config file is exit 2 and one line."""
    text, named = BAD_CONFIG[filename]
    (project.root / "tasks.py").unlink()  # libsql-migrate's own project: the working dir
    (project.root / filename).write_text(text)
    run = project.cli("status", LIBSQL_URL=None)
    assert run.code == 2, run
    assert "Traceback" not in run.err
    assert run.err.startswith("error: cannot read the configuration files:"), run.err
    assert named in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert not (project.root / "dev.db").exists()


def test_an_invoke_variable_of_the_wrong_type_is_one_error_line(project):
    run = project.cli("status", LIBSQL_URL=None, INVOKE_MIGRATE_LOCK_TIMEOUT="soon")
    assert run.code == 2, run
    assert "Traceback" not in run.err
    assert "INVOKE_* environment variables" in run.err and "'soon'" in run.err
    assert len(run.err.strip().splitlines()) == 1
