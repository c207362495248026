"""Configuration precedence: flags > environment > .env > invoke config (+ environment) > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate_tasks.config.settings import resolve_settings, validate_identifier
from migrate_tasks.errors import UsageError

CONFIG = {
    "url": "file:config.db",
    "dir": "cfg_migrations",
    "table": "schema_migrations",
    "environments": {
        "production": {"url": "libsql://prod.example.com", "table": "prod_migrations"},
        "staging": {"url": "https://staging.example.com"},
    },
}


def resolve(flags=None, environ=None, dotenv=None, config=None):
    return resolve_settings(flags or {}, environ or {}, dotenv or {}, config or {}, cwd=Path("/p"))


def test_defaults():
    s = resolve()
    assert (s.url, s.directory, s.table, s.env, s.auth_token) == (
        "file:dev.db",
        Path("/p/migrations"),
        "schema_migrations",
        None,
        None,
    )
    assert s.sources["url"] == "default"


def test_each_layer_beats_the_one_below():
    env = {"LIBSQL_URL": "file:env.db"}
    dot = {"LIBSQL_URL": "file:dotenv.db"}
    assert resolve(config=CONFIG).url == "file:config.db"
    assert resolve(dotenv=dot, config=CONFIG).url == "file:dotenv.db"
    assert resolve(environ=env, dotenv=dot, config=CONFIG).url == "file:env.db"
    assert resolve({"url": "file:flag.db"}, env, dot, CONFIG).url == "file:flag.db"


def test_libsql_url_beats_database_url_and_real_env_beats_dotenv_entirely():
    assert resolve(environ={"DATABASE_URL": "a", "LIBSQL_URL": "b"}).url == "b"
    s = resolve(environ={"DATABASE_URL": "real"}, dotenv={"LIBSQL_URL": "dot"})
    assert s.url == "real"
    assert s.sources["url"] == "DATABASE_URL"


def test_environment_section_overrides_base_config():
    s = resolve({"env": "production"}, config=CONFIG)
    assert (s.url, s.table, s.env) == ("libsql://prod.example.com", "prod_migrations", "production")
    assert "environments.production" in s.sources["url"]
    assert s.directory == Path("/p/cfg_migrations")


def test_environment_from_migrate_env_variable_and_env_vars_still_win():
    s = resolve(environ={"MIGRATE_ENV": "staging"}, config=CONFIG)
    assert s.url == "https://staging.example.com"
    s = resolve(environ={"MIGRATE_ENV": "staging", "LIBSQL_URL": "file:x.db"}, config=CONFIG)
    assert s.url == "file:x.db"


def test_unknown_environment_lists_known_ones():
    with pytest.raises(UsageError, match="production, staging"):
        resolve({"env": "prod"}, config=CONFIG)


def test_unknown_key_in_environment_is_refused():
    with pytest.raises(UsageError, match="unknown keys: urll"):
        resolve({"env": "x"}, config={"environments": {"x": {"urll": "oops"}}})


def test_token_sources_and_repr_hides_it():
    s = resolve(environ={"LIBSQL_AUTH_TOKEN": "sekrit-token"})
    assert s.auth_token == "sekrit-token"
    assert "sekrit" not in repr(s)
    assert (
        resolve({"auth_token": "flag-token"}, {"LIBSQL_AUTH_TOKEN": "x"}).auth_token == "flag-token"
    )


def test_migrations_dir_variable_and_absolute_paths():
    assert resolve(environ={"MIGRATIONS_DIR": "db/m"}).directory == Path("/p/db/m")
    assert resolve({"dir": "/abs/m"}).directory == Path("/abs/m")


@pytest.mark.parametrize("bad", ["", "1abc", "a-b", 'x"; drop table y; --', "sqlite_x", "a" * 64])
def test_table_name_is_validated(bad):
    with pytest.raises(UsageError):
        validate_identifier(bad)
    with pytest.raises(UsageError):
        resolve(config={"table": bad}) if bad else validate_identifier(bad)


def test_empty_values_fall_through():
    assert resolve({"url": ""}, {}, {"LIBSQL_URL": ""}, {"url": "file:c.db"}).url == "file:c.db"


@pytest.mark.parametrize("var", ["LIBSQL_URL", "DATABASE_URL"])
def test_an_empty_url_variable_is_a_missing_secret_not_a_default(var):
    with pytest.raises(UsageError, match=f"{var} is set but empty"):
        resolve(environ={var: ""}, config={"url": "file:c.db"})
    assert resolve({"url": "file:flag.db"}, {var: ""}).url == "file:flag.db"  # a flag wins
