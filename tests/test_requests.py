"""How many HTTP requests a run sends to sqld, counted by the loopback proxy (issue 7).

Each is a round trip, and on a distant server round trips are the run's time. ``up`` of
N migrations: one read (history and lease), one transaction that takes the lease and
reads the history again from the primary, one request per migration (its statements and
tracking rows together), one to release the lease: N + 3. ``--single-transaction``:
three in all. A no-op ``up`` and ``status`` read once. The safety these requests carry
is tested elsewhere (test_concurrency, test_crash, test_network_faults, test_replica).
"""

from __future__ import annotations

import pytest

from tests.support.project import Project, write_tables
from tests.support.proxy import FaultProxy


def requests(proxy: FaultProxy, project: Project, *args: str) -> int:
    proxy.reset_counters()
    run = project.invoke(*args)
    assert run.code == 0, run.err
    return proxy.requests


@pytest.mark.target("http")
@pytest.mark.parametrize("count", [1, 7])
def test_up_sends_one_request_per_migration_plus_three(proxy, tmp_path, count):
    project = Project(tmp_path / "app", proxy.http_url)
    versions = write_tables(project, count)
    assert requests(proxy, project, "migrate.up") <= count + 3  # on a fresh database
    assert project.tracking() == dict.fromkeys(versions, "applied")

    more = write_tables(project, count, start=count + 1)
    assert requests(proxy, project, "migrate.up", "--json") <= count + 3
    assert project.tracking() == dict.fromkeys(versions + more, "applied")


@pytest.mark.target("http")
def test_a_no_op_up_and_status_read_once(proxy, tmp_path):
    project = Project(tmp_path / "app", proxy.http_url)
    write_tables(project, 5)
    assert requests(proxy, project, "migrate.status") <= 2  # before the first run
    assert requests(proxy, project, "migrate.up") <= 5 + 3
    assert requests(proxy, project, "migrate.up") == 1  # nothing to do: one read
    assert requests(proxy, project, "migrate.status") == 1  # history + replica probe
    assert requests(proxy, project, "migrate.status", "--json", "--check") == 1
    assert requests(proxy, project, "migrate.up", "--dry-run") == 1


@pytest.mark.target("http")
def test_single_transaction_sends_three_requests(proxy, tmp_path):
    project = Project(tmp_path / "app", proxy.http_url)
    versions = write_tables(project, 12)
    assert requests(proxy, project, "migrate.up", "--single-transaction") <= 3
    assert project.tracking() == dict.fromkeys(versions, "applied")
    more = write_tables(project, 3, start=13)
    assert requests(proxy, project, "migrate.up", "--single-transaction", "--json") <= 3
    assert project.tracking() == dict.fromkeys(versions + more, "applied")
    assert project.query("SELECT count(*) FROM schema_migrations_lock") == [(0,)]


@pytest.mark.target("http")
def test_down_sends_one_request_per_migration_plus_three(proxy, tmp_path):
    project = Project(tmp_path / "app", proxy.http_url)
    versions = write_tables(project, 6)
    assert requests(proxy, project, "migrate.up") <= 6 + 3
    assert requests(proxy, project, "migrate.down", "--step", "4") <= 4 + 3
    assert project.tracking() == {
        **dict.fromkeys(versions[:2], "applied"),
        **dict.fromkeys(versions[2:], "rolled_back"),
    }


@pytest.mark.target("file")
def test_applied_files_are_hashed_not_parsed_and_repair_keeps_that_safe(tmp_path):
    """A no-op ``up`` reads each applied file only to compare its checksum (no parsing:
    it parsed when it was applied). ``repair --applied``, the other way a checksum gets
    recorded, therefore refuses a file that does not parse."""
    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    first, second = write_tables(project, 2)
    assert project.invoke("migrate.up").code == 0
    path = project.migrations / f"{first}_t1.sql"
    path.write_text("-- migrate:up\nSELECT 'unterminated;\n")  # edited after it was applied

    up = project.invoke("migrate.up")
    assert up.code == 2 and f"{first}_t1.sql:2" in up.err, up.err  # a changed file is parsed
    repair = project.invoke("migrate.repair", first, "--applied")
    assert repair.code == 2 and f"{first}_t1.sql:2" in repair.err, repair.err
    status = project.invoke("migrate.status", "--json").json
    assert [m["state"] for m in status["migrations"]] == ["modified", "applied"]

    path.write_text("-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n")
    assert project.invoke("migrate.repair", first, "--applied").code == 0
    assert project.invoke("migrate.up").code == 0
    assert project.tracking() == {first: "applied", second: "applied"}
