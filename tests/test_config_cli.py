"""Configuration, logging and auth as a user meets them: real invoke processes, real files."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.project import Project

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


def test_default_is_dev_db_in_the_working_directory(project):
    run = without_url(project, "migrate.up")
    assert run.code == 0, run.err
    assert "database file:dev.db (from default)" in run.err
    assert {"one", "two", "schema_migrations", "schema_migrations_log"} <= tables(
        project.root / "dev.db"
    )


def test_precedence_through_invoke_yaml_dotenv_env_and_flags(project):
    root = project.root
    (root / "invoke.yaml").write_text(
        "migrate:\n"
        "  url: file:yaml.db\n"
        "  table: tracked\n"
        "  environments:\n"
        "    staging:\n"
        "      url: file:staging.db\n"
    )
    run = without_url(project, "migrate.up", "--step", "1")
    assert run.code == 0, run.err
    assert {"one", "tracked", "tracked_log"} <= tables(root / "yaml.db")
    assert "schema_migrations" not in tables(root / "yaml.db")

    run = without_url(project, "migrate.up", "--env", "staging")
    assert run.code == 0, run.err
    assert "environment staging" in run.err
    assert {"one", "two", "tracked"} <= tables(root / "staging.db")

    (root / ".env").write_text("LIBSQL_URL=file:dotenv.db\n")
    run = without_url(project, "migrate.up", "--env", "staging")
    assert run.code == 0, run.err
    assert "(from LIBSQL_URL (.env)" in run.err
    assert "two" in tables(root / "dotenv.db")

    run = project.invoke("migrate.up", LIBSQL_URL="file:envvar.db")
    assert run.code == 0, run.err
    assert "two" in tables(root / "envvar.db")

    run = project.invoke("migrate.up", "--url", "file:flag.db", LIBSQL_URL="file:envvar.db")
    assert run.code == 0, run.err
    assert "two" in tables(root / "flag.db")

    # INVOKE_MIGRATE_TABLE is Invoke's own config layer: it beats invoke.yaml's "tracked"
    run = project.invoke(
        "migrate.status", "--json", INVOKE_MIGRATE_TABLE="other", LIBSQL_URL="file:yaml.db"
    )
    assert run.code == 0, run.err
    assert [m["state"] for m in run.json["migrations"]] == ["pending", "pending"]


def test_bad_table_prefix_in_config_is_refused(project):
    (project.root / "invoke.yaml").write_text('migrate:\n  table: "x; DROP TABLE y"\n')
    run = without_url(project, "migrate.up")
    assert run.code == 2 and "invalid table name" in run.err
    assert not (project.root / "dev.db").exists()


def test_dir_from_migrations_dir_variable(project):
    moved = project.root / "db" / "migrations"
    moved.parent.mkdir()
    project.migrations.rename(moved)
    run = without_url(project, "migrate.status", MIGRATIONS_DIR="db/migrations")
    assert run.code == 0, run.err
    assert "0 of 2 migrations applied" in run.out


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
