"""Migrations too big to hold in memory take the streaming path, and stay all-or-nothing.

The files here are just over ``STREAM_THRESHOLD_BYTES`` so the real streaming code runs;
memory and speed for a 200 MB file are measured by ``benchmarks/large_migration.py``.
"""

from __future__ import annotations

import pytest

from migrate_tasks.files.source import STREAM_THRESHOLD_BYTES
from tests.support.project import Project
from tests.support.proxy import FaultProxy

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
        pytest.param("ws", marks=pytest.mark.target("ws")),
    ]
)
def project(tmp_path, request) -> Project:
    """A local file, or sqld over HTTP or WebSocket."""
    if request.param == "file":
        return Project(tmp_path / "app", f"file:{tmp_path / 'big.db'}")
    server = request.getfixturevalue("sqld_db")
    return Project(tmp_path / "app", server.http_url if request.param == "http" else server.ws_url)


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


@pytest.mark.target("ws")
def test_big_migration_over_ws_goes_out_in_a_few_batches(sqld, tmp_path) -> None:
    """Over ws the streamed unit is a few large batches on one stream, not a message per
    statement (which made 15,600 INSERTs take 7 s instead of 0.3 s)."""
    from migrate_tasks.drivers.ws import WsDriver

    with FaultProxy(sqld.port) as proxy:
        project = Project(tmp_path / "app", proxy.ws_url)
        rows = write_big(project)
        run = project.invoke("migrate.up", timeout=300)
        assert run.code == 0, run.err[-2000:]
        sent = dict(proxy.ws_requests)
        assert project.query("SELECT count(*) FROM big") == [(rows,)]
    chunks = -(-(rows + 1) // WsDriver.chunk_max_steps)  # the CREATE TABLE and the INSERTs
    # taking the lock, the migration's chunks, the release; before: one "execute" a row
    assert sent["batch"] <= chunks + 3, sent
    assert sent.get("execute", 0) < 10, sent  # the reads before the lock
