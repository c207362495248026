"""The built-in migration tests that ``--test-libsql-migrations`` adds to a run.

Each takes ``libsql_migrator``: the project's migrations on a fresh, empty database of
the configured kind (a local file, or a sqld namespace). They are what pytest-alembic's
``test_single_head_revision``, ``test_upgrade``, ``test_up_down_consistency`` and
``test_model_definitions_match_ddl`` check for Alembic, plus a foreign-key check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from migrate_tasks.errors import MigrateError
from migrate_tasks.progname import command

if TYPE_CHECKING:
    from migrate_tasks.testing.harness import MigrationHarness

__all__ = ["BUILTIN_TESTS", "MODELS_TEST"]

Check = Callable[["MigrationHarness"], None]


def _said_plainly(check: Check) -> Check:
    """A migration error fails the test with its message (file, line, statement, the
    database's words), not a traceback through the engine."""

    @functools.wraps(check)
    def run(libsql_migrator: MigrationHarness) -> None:
        try:
            check(libsql_migrator)
        except MigrateError as exc:
            failure = f"{type(exc).__name__}: {exc}"
        else:
            return
        pytest.fail(failure, pytrace=False)  # outside the except: no chained tracebacks

    return run


def test_history_validates(libsql_migrator: MigrationHarness) -> None:
    """Every file parses, names and versions are sound, nothing the target refuses, and
    the integrity file (if any) agrees: what ``migrate.validate`` checks."""
    found = libsql_migrator.validate()
    if not found.ok:
        listed = "\n".join(f"  {p.kind}: {p.message}" for p in found.problems)
        pytest.fail(f"validate found {len(found.problems)} problem(s):\n{listed}", pytrace=False)


def test_migrations_apply_in_order(libsql_migrator: MigrationHarness) -> None:
    """From an empty database, each migration applies on its own, in version order."""
    versions = libsql_migrator.versions()
    if not versions:
        pytest.fail(f"no migrations in {libsql_migrator.directory}", pytrace=False)
    for version in versions:
        ran = libsql_migrator.up_next().versions
        assert ran == [version], f"applying the next migration ran {ran}, expected {version}"
    assert libsql_migrator.status().up_to_date


def test_down_undoes_up(libsql_migrator: MigrationHarness) -> None:
    """Every down restores the schema its up started from, and up applies again
    (``migrate.verify``, on this test's empty database)."""
    result = libsql_migrator.verify(libsql_migrator.url)
    if not result.ok:
        problem = result.problems[0]
        detail = f"\n{problem.diff}" if problem.diff else ""
        pytest.fail(f"verify: {problem.message}{detail}", pytrace=False)


def test_foreign_keys_stay_clean(libsql_migrator: MigrationHarness) -> None:
    """After each migration, ``PRAGMA foreign_key_check`` finds no row whose parent is
    missing (a data migration or a table rebuild that broke a reference)."""
    for version in libsql_migrator.versions():
        libsql_migrator.up_next()
        dirty = libsql_migrator.query("PRAGMA foreign_key_check")
        if dirty:
            shown = ", ".join(f"{r[0]} rowid {r[1]} -> {r[2]}" for r in dirty[:5])
            pytest.fail(
                f"after migration {version}, {len(dirty)} row(s) break a foreign key: {shown}",
                pytrace=False,
            )


def test_models_match_migrations(libsql_migrator: MigrationHarness) -> None:
    """The SQLAlchemy models (``migrate.models``) and the migrations' schema agree
    (``migrate.generate --check``)."""
    result = libsql_migrator.check_models()
    if not result.up_to_date:
        changes = "\n".join(f"  {c.describe()}" for c in result.changes)
        pytest.fail(
            f"the models and the migrations differ ({libsql_migrator.models}):\n{changes}\n"
            f"run `{command('generate NAME')}` and commit the migration it writes",
            pytrace=False,
        )


BUILTIN_TESTS = tuple(
    _said_plainly(check)
    for check in (
        test_history_validates,
        test_migrations_apply_in_order,
        test_down_undoes_up,
        test_foreign_keys_stay_clean,
    )
)
MODELS_TEST = _said_plainly(test_models_match_migrations)
