"""dbmate folders and databases work as they are: names, comment-only sections, adopt-dbmate.

Everything runs through the real ``invoke``/``libsql-migrate`` programs on real libSQL
files; the compatibility test at the end first migrates with the real dbmate binary
(installed from npm on first use, see ``tests/support/npm_tools.py``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from migrate_tasks.source import checksum
from tests.support.project import Project

CREATE_A = (
    "-- migrate:up\nCREATE TABLE a (id INTEGER PRIMARY KEY);\n-- migrate:down\nDROP TABLE a;\n"
)
NO_OP = (
    "-- migrate:up\n-- nothing to do: kept so versions stay in step\n-- migrate:down\nSELECT 1;\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "app", f"file:{tmp_path / 'app' / 'dev.db'}")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


# --- names and comment-only sections --------------------------------------------------------


def test_dbmate_names_are_applied_and_shown_as_written(project: Project) -> None:
    project.write("20240101120000_AddComments.sql", CREATE_A)
    project.write(
        "20240101120001_create-users-table.sql",
        "-- migrate:up\nCREATE TABLE users (id INTEGER);\n-- migrate:down\nDROP TABLE users;\n",
    )
    run = project.invoke("migrate.up")
    assert run.code == 0, run.err
    status = project.invoke("migrate.status", "--json")
    assert [(m["version"], m["name"], m["state"]) for m in status.json["migrations"]] == [
        ("20240101120000", "AddComments", "applied"),
        ("20240101120001", "create-users-table", "applied"),
    ]
    assert "20240101120001_create-users-table" in run.err  # "applied ..." log lines
    assert "20240101120000  AddComments " in project.invoke("migrate.status").out
    assert project.query("SELECT name FROM schema_migrations ORDER BY version") == [
        ("AddComments",),
        ("create-users-table",),
    ]


def test_an_up_section_of_comments_only_is_applied_as_a_no_op_with_a_warning(
    project: Project,
) -> None:
    project.write("20240101120000_create_a.sql", CREATE_A)
    noop = project.write("20240101120001_noop.sql", NO_OP)
    validate = project.invoke("migrate.validate", "--json")
    assert validate.code == 0, validate.err
    warning = "20240101120001_noop has only comments: applying it runs no SQL"
    assert [warning in w for w in validate.json["warnings"]] == [True]
    assert warning in validate.err
    up = project.invoke("migrate.up", "--json")
    assert up.code == 0, up.err
    assert [m["version"] for m in up.json["migrations"]] == ["20240101120000", "20240101120001"]
    assert any(warning in w for w in up.json["warnings"]) and warning in up.err
    assert project.query("SELECT version, status, checksum FROM schema_migrations") == [
        ("20240101120000", "applied", checksum(CREATE_A.encode())),
        ("20240101120001", "applied", checksum(noop.read_bytes())),
    ]
    # applied: no more warnings, and it rolls back like any other (its down is SELECT 1)
    again = project.invoke("migrate.validate")
    assert (again.code, warning in again.err) == (0, False)
    assert project.invoke("migrate.down").code == 0
    assert project.tracking() == {"20240101120000": "applied", "20240101120001": "rolled_back"}


def test_an_empty_up_section_is_still_refused(project: Project) -> None:
    project.write("20240101120000_create_a.sql", CREATE_A)
    project.write("20240101120001_empty.sql", "-- migrate:up\n\n-- migrate:down\n-- none\n")
    db = project.root / "dev.db"
    up = project.invoke("migrate.up")
    assert up.code == 2, up.err
    assert "20240101120001_empty.sql:1: up section is empty" in up.err
    assert digest(db) == "absent"
    validate = project.invoke("migrate.validate")
    assert validate.code == 3 and "up section is empty" in validate.out


def test_create_writes_a_file_that_is_refused_until_written(project: Project) -> None:
    created = project.invoke("migrate.create", "add_users")
    assert created.code == 0, created.err
    up = project.invoke("migrate.up")
    assert up.code == 2 and "up section is empty" in up.err, up.err
