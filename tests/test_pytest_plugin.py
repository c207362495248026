"""The pytest plugin (docs/pytest.md), run the way a user's project runs it: ``pytester``
starts pytest in a separate process in a fresh project, and the plugin arrives through
the ``pytest11`` entry point of the installed package.
"""

from __future__ import annotations

import pytest

from tests.support.namespaces import NamespacedSqld

pytest_plugins = ["pytester"]

GOOD = {
    "20250101000001_users.sql": (
        "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n"
        "-- migrate:down\nDROP TABLE users;\n"
    ),
    "20250101000002_posts.sql": (
        "-- migrate:up\nCREATE TABLE posts (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id), title TEXT NOT NULL);\n"
        "-- migrate:down\nDROP TABLE posts;\n"
    ),
    "20250101000003_title_upper.sql": (
        "-- migrate:up\nUPDATE posts SET title = upper(title);\n-- migrate:down\nSELECT 1;\n"
    ),
}

DATA_MIGRATION_TEST = """
def test_titles_become_upper_case(libsql_migrator):
    libsql_migrator.up_to("20250101000002")
    libsql_migrator.insert("users", [{"id": 1, "email": "a@example.com"}])
    libsql_migrator.insert("posts", [{"user_id": 1, "title": "hello"}, {"user_id": 1, "title": "x"}])
    ran = libsql_migrator.up_next()
    assert ran.versions == ["20250101000003"]
    assert [r["title"] for r in libsql_migrator.rows("posts")] == ["HELLO", "X"]
    assert libsql_migrator.applied() == libsql_migrator.versions()


def test_migrated_database(libsql_migrated_db, libsql_migrator):
    assert libsql_migrator.url == libsql_migrated_db
    assert libsql_migrator.status().up_to_date
    assert libsql_migrator.scalar("SELECT count(*) FROM posts") == 0


def test_each_test_has_its_own_database(libsql_db, libsql_migrator):
    assert libsql_migrator.status().migrations[0].state == "pending"
    assert libsql_migrator.query("SELECT name FROM sqlite_master") == []
"""


def project(pytester: pytest.Pytester, files: dict[str, str] = GOOD, folder: str = "migrations"):
    target = pytester.path / folder
    target.mkdir(parents=True)
    for name, text in files.items():
        (target / name).write_text(text)
    return target


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in its own process, none of our settings' variables inherited."""
    for name in (
        "LIBSQL_URL",
        "DATABASE_URL",
        "LIBSQL_AUTH_TOKEN",
        "MIGRATIONS_DIR",
        "MIGRATE_ENV",
    ):
        pytester._monkeypatch.delenv(name, raising=False)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_installed_plugin_does_nothing_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_nothing_of_ours_is_loaded():
            loaded = sorted(m for m in sys.modules if m.startswith("migrate_tasks")
                            or m.split(".")[0] in ("invoke", "libsql", "libsql_client"))
            light = {"migrate_tasks", "migrate_tasks.errors", "migrate_tasks.testing",
                     "migrate_tasks.testing.plugin"}
            assert "migrate_tasks.testing.plugin" in loaded and set(loaded) <= light, loaded
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "libsql-migrations" not in result.stdout.str()
    helped = run(pytester, "--help")
    helped.stdout.fnmatch_lines(["*--libsql-db=*", "*--test-libsql-migrations*"])


def test_fixtures_on_local_files(pytester: pytest.Pytester) -> None:
    project(pytester)
    pytester.makepyfile(test_data=DATA_MIGRATION_TEST)
    run(pytester).assert_outcomes(passed=3)


def test_a_failing_data_migration_fails_the_test_with_its_message(
    pytester: pytest.Pytester,
) -> None:
    broken = {**GOOD, "20250101000004_bad.sql": "-- migrate:up\nUPDATE posts SET nope = 1;\n"}
    project(pytester, broken)
    pytester.makepyfile(
        test_bad="""
        import pytest
        from migrate_tasks import MigrationFailed

        def test_bad(libsql_migrator):
            libsql_migrator.up_to("20250101000003")
            with pytest.raises(MigrationFailed, match="no such column: nope"):
                libsql_migrator.up_next()
            assert libsql_migrator.applied() == libsql_migrator.versions()[:3]
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_builtin_tests_pass_on_sound_migrations(pytester: pytest.Pytester) -> None:
    project(pytester, folder="db/migrations")
    pytester.makefile(
        ".toml",
        pyproject="""
        [tool.pytest.ini_options]
        libsql_migrations = "db/migrations"
        libsql_test_migrations = true
        """,
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*libsql-migrations::test_history_validates PASSED*",
            "*libsql-migrations::test_migrations_apply_in_order PASSED*",
            "*libsql-migrations::test_down_undoes_up PASSED*",
            "*libsql-migrations::test_foreign_keys_stay_clean PASSED*",
        ]
    )


def test_builtin_verify_finds_a_down_that_does_not_undo_its_up(pytester: pytest.Pytester) -> None:
    bad = {
        **GOOD,
        "20250101000004_index.sql": "-- migrate:up\nCREATE INDEX users_email ON users(email);\n"
        "CREATE TABLE extra (a);\n-- migrate:down\nDROP INDEX users_email;\n",
    }
    project(pytester, bad)
    result = run(pytester, "--test-libsql-migrations")
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    assert "FAILED libsql-migrations::test_down_undoes_up - Failed: verify:" in out
    assert "20250101000004_index" in out and "extra" in out


def test_builtin_tests_fail_plainly_on_a_migration_that_breaks_a_foreign_key(
    pytester: pytest.Pytester,
) -> None:
    seed = (
        "-- migrate:up\nINSERT INTO posts (user_id, title) VALUES (42, 'orphan');\n"
        "-- migrate:down\nDELETE FROM posts WHERE user_id = 42;\n"
    )
    project(pytester, {**GOOD, "20250101000005_seed.sql": seed})
    result = run(pytester, "--test-libsql-migrations")
    result.assert_outcomes(passed=1, failed=3)
    out = result.stdout.str()
    for name in ("migrations_apply_in_order", "down_undoes_up", "foreign_keys_stay_clean"):
        assert f"FAILED libsql-migrations::test_{name}" in out
    assert "MigrationFailed: migration 20250101000005 (up) failed at" in out
    assert "FOREIGN KEY constraint failed" in out
    assert "Traceback" not in out and "above exception" not in out and ".py:" not in out


def test_builtin_tests_respect_k(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = run(pytester, "--test-libsql-migrations", "-k", "history")
    result.assert_outcomes(passed=1, deselected=3)


MODELS = """
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(Text, nullable=False)


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
"""


def test_builtin_models_test_runs_when_models_are_configured(pytester: pytest.Pytester) -> None:
    pytest.importorskip("sqlalchemy")
    project(pytester)
    pytester.makepyfile(app_models=MODELS)
    pytester.makefile(".yaml", invoke="migrate:\n  models: app_models:Base\n")
    result = run(pytester, "--test-libsql-migrations", "-k", "models", "-v")
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(["*test_models_match_migrations PASSED*"])
    pytester.makepyfile(app_models=MODELS.replace("title: Mapped[str]", "slug: Mapped[str]"))
    failed = run(pytester, "--test-libsql-migrations", "-k", "models")
    failed.assert_outcomes(failed=1, deselected=4)
    assert "the models and the migrations differ (app_models:Base)" in failed.stdout.str()


@pytest.mark.target("http")
def test_a_namespace_per_test_on_the_sessions_own_sqld(pytester: pytest.Pytester) -> None:
    project(pytester)
    pytester.makepyfile(test_data=DATA_MIGRATION_TEST)
    pytester.makepyfile(
        test_where="""
        def test_on_a_namespace(libsql_db, libsql_server):
            assert libsql_db.startswith("http://") and ".localhost:" in libsql_db
            assert str(libsql_server.port) in libsql_db
        """
    )
    result = run(pytester, "--libsql-db", "sqld", "--test-libsql-migrations")
    result.assert_outcomes(passed=8)


@pytest.mark.target("ws")
def test_an_external_server_over_websocket(
    pytester: pytest.Pytester, shared_sqld: NamespacedSqld
) -> None:
    project(pytester)
    pytester.makepyfile(test_data=DATA_MIGRATION_TEST)
    pytester.makepyfile(
        test_where=f"""
        def test_on_the_external_server(libsql_db):
            assert libsql_db.startswith("ws://") and ":{shared_sqld.server.port}" in libsql_db
        """
    )
    args = ["--libsql-url", shared_sqld.http_url, "--libsql-admin-url", shared_sqld.admin_url]
    result = run(pytester, *args, "--libsql-transport", "ws", "--test-libsql-migrations")
    result.assert_outcomes(passed=8)


def test_a_bad_option_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(libsql_db):\n    pass\n")
    result = run(pytester, "--libsql-db", "postgres")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--libsql-db 'postgres': use file or sqld*"])


def test_settings_in_the_docs_page_are_the_plugins() -> None:
    from pathlib import Path

    from migrate_tasks.testing.plugin import SETTINGS

    page = (Path(__file__).resolve().parent.parent / "docs" / "pytest.md").read_text()
    for name in SETTINGS:
        assert f"`--{name.replace('_', '-')}" in page and f"`{name}`" in page, name
    assert "`--test-libsql-migrations`" in page and "`libsql_test_migrations`" in page
