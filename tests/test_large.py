"""Migrations too big to hold in memory take the streaming path, and stay all-or-nothing.

The files here are just over ``STREAM_THRESHOLD_BYTES`` so the real streaming code runs;
memory and speed for a 200 MB file are measured by ``benchmarks/large_migration.py``.
"""

from __future__ import annotations

import pytest

from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES
from tests.support.project import Project

ROW = "INSERT INTO big (id, v) VALUES ({i}, 'row {i} padded with enough text to be realistic');\n"


def write_big(project: Project, *, broken_near_end: bool = False) -> int:
    """Write a migration just over the threshold; returns its row count."""
    project.migrations.mkdir(exist_ok=True)
    path = project.migrations / "20250101000001_big.sql"
    rows = STREAM_THRESHOLD_BYTES // len(ROW.format(i=1)) + 1_000
    with path.open("w") as f:
        f.write("-- migrate:up\nCREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n")
        for i in range(rows):
            if broken_near_end and i == rows - 10:
                f.write("INSERT INTO big (id, v) VALUE (0, 'typo: VALUE');\n")
            f.write(ROW.format(i=i))
        f.write("-- migrate:down\nDROP TABLE big;\n")
    assert path.stat().st_size > STREAM_THRESHOLD_BYTES
    return rows


@pytest.fixture(
    params=[
        pytest.param("file", marks=pytest.mark.target("file")),
        pytest.param("http", marks=pytest.mark.target("http")),
    ]
)
def project(tmp_path, request) -> Project:
    """A local file or sqld over HTTP (over ws a big unit runs one statement per round
    trip, about 0.4 ms each: correct, but minutes at this size)."""
    if request.param == "file":
        return Project(tmp_path / "app", f"file:{tmp_path / 'big.db'}")
    server = request.getfixturevalue("sqld")
    return Project(tmp_path / "app", server.http_url)


def test_big_migration_applies_and_rolls_back(project: Project):
    rows = write_big(project)
    run = project.invoke("migrate.up", "-v", timeout=300)
    assert run.code == 0, run.err[-2000:]
    assert project.query("SELECT count(*), max(id) FROM big") == [(rows, rows - 1)]
    assert project.tracking() == {"20250101000001": "applied"}
    assert project.invoke("migrate.validate").code == 0
    run = project.invoke("migrate.down")
    assert run.code == 0, run.err
    assert "big" not in {row[1] for row in project.schema()}


def test_syntax_error_near_the_end_leaves_nothing(project: Project):
    rows = write_big(project, broken_near_end=True)
    run = project.invoke("migrate.up", timeout=300)
    assert run.code == 1, run.err[-2000:]
    bad_line = 2 + rows - 10 + 1  # header, CREATE TABLE, then the rows
    assert f"20250101000001_big.sql:{bad_line}" in run.err
    assert "VALUE (0, 'typo: VALUE')" in run.err
    assert "nothing of this migration was applied" in run.err
    assert "big" not in {row[1] for row in project.schema()}
    assert project.query("SELECT count(*) FROM schema_migrations") == [(0,)]
    assert [row[2] for row in project.log()] == ["failed"]


def test_edited_while_applying_is_caught(project: Project):
    """The checksum taken before applying is checked again at the end of the stream."""
    from migrate_tasks.drivers import open_driver
    from migrate_tasks.engine.core import Engine
    from migrate_tasks.engine.plan import plan_up
    from migrate_tasks.errors import MigrationFailed

    write_big(project)
    path = project.migrations / "20250101000001_big.sql"
    with open_driver(project.url) as driver:
        engine = Engine(driver, project.migrations, "schema_migrations")
        units = engine.prepare(plan_up(engine.status()))
        with path.open("a") as f:
            f.write("-- an edit after the check\n")
        with pytest.raises(MigrationFailed, match="changed while it was being applied"):
            engine.apply(units)
    assert "big" not in {row[1] for row in project.schema()}
