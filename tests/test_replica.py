"""Pointing the tool at a sqld read replica: writes reach the primary, history stays exact."""

from __future__ import annotations

import pytest

from tests.support.project import Project
from tests.support.replica import ReplicaPair

pytestmark = pytest.mark.target("http")


@pytest.fixture
def pair(sqld_bin, tmp_path):
    with ReplicaPair(sqld_bin, tmp_path / "servers") as servers:
        yield servers


def add(project: Project, n: int) -> None:
    project.write(
        f"202501010000{n:02d}_t{n}.sql",
        f"-- migrate:up\nCREATE TABLE t{n} (id INTEGER);\nINSERT INTO t{n} VALUES ({n});\n"
        f"-- migrate:down\nDROP TABLE t{n};\n",
    )


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_migrating_through_a_replica(pair, tmp_path, scheme):
    url = pair.replica.http_url if scheme == "http" else pair.replica.ws_url
    through_replica = Project(tmp_path / "app", url)
    on_primary = Project(tmp_path / "app", pair.primary.http_url)
    for n in (1, 2, 3):
        add(through_replica, n)
    run = through_replica.invoke("migrate.up")
    assert run.code == 0, run.err
    assert on_primary.tracking() == {f"2025010100000{n}": "applied" for n in (1, 2, 3)}
    assert {row[1] for row in on_primary.schema()} == {"t1", "t2", "t3"}

    # Right after each write, plain reads on a replica are often stale (measured: half of
    # them). Under the lock the tool re-reads through the primary, so a second run never
    # tries to apply again.
    for n in range(4, 14):
        add(through_replica, n)
        first = through_replica.invoke("migrate.up")
        assert first.code == 0, first.err
        second = through_replica.invoke("migrate.up")
        assert second.code == 0, second.err
        assert "another run changed" not in second.err
    applied = [r for r in on_primary.log() if r[2] == "applied"]
    assert len(applied) == 13 and len({r[0] for r in applied}) == 13


def test_status_says_a_replica_may_lag(pair, tmp_path):
    through_replica = Project(tmp_path / "app", pair.replica.http_url)
    on_primary = Project(tmp_path / "app", pair.primary.http_url)
    add(through_replica, 1)
    assert on_primary.invoke("migrate.up").code == 0

    run = through_replica.invoke("migrate.status", "--json")
    assert run.code == 0, run.err
    assert "is a read replica" in run.err and "may lag" in run.err
    assert run.json["replica"] is True

    run = on_primary.invoke("migrate.status", "--json")
    assert run.code == 0 and "replica" not in run.err
    assert run.json["replica"] is False


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_a_run_right_after_another_plans_from_the_primary(pair, tmp_path, scheme):
    """In-process, back to back (no process start-up to let the replica catch up)."""
    from migrate_tasks.drivers import open_driver
    from migrate_tasks.engine.core import Engine, RunOptions

    url = pair.replica.http_url if scheme == "http" else pair.replica.ws_url
    project = Project(tmp_path / "app", url)
    add(project, 1)
    with open_driver(url) as first, open_driver(url) as second:
        one = Engine(first, project.migrations, "schema_migrations")
        two = Engine(second, project.migrations, "schema_migrations")
        for n in range(2, 32):
            add(project, n)
            one.migrations._scanned = two.migrations._scanned = None  # see the new file
            assert len(one.migrate("up", options=RunOptions()).results) >= 1
            assert two.migrate("up", options=RunOptions()).results == []
    on_primary = Project(tmp_path / "app", pair.primary.http_url)
    applied = [r for r in on_primary.log() if r[2] == "applied"]
    assert len(applied) == 31 and not [r for r in on_primary.log() if r[2] == "failed"]
