"""Network faults between the tool and sqld: a clear exit 5, and a rerun that finishes.

A loopback proxy loses exactly one request of a run, at every position in turn, in
both ways a client cannot tell apart: the request never arrived, or it arrived and
committed but the answer was lost; and a request cut off in the middle of its body.
Afterwards the history and the schema must agree, and a clean rerun must apply what is
left without applying anything twice. Migrations share requests (sqld over HTTP), all in
one or two per request: a lost request that carried several reports exactly which of
them committed, read back from the database.
"""

from __future__ import annotations

import re

import pytest

from tests.support.project import Project
from tests.support.proxy import FaultProxy

#: Most faults here are cut at HTTP requests; those that take ``remote_transport`` run
#: over WebSocket as well.
HTTP_ONLY = pytest.mark.target("http")

MIGRATIONS = 3


def build(project: Project) -> None:
    for n in range(1, MIGRATIONS + 1):
        project.write(
            f"2025010100000{n}_t{n}.sql",
            f"-- migrate:up\nCREATE TABLE t{n} (id INTEGER);\nINSERT INTO t{n} VALUES ({n});\n"
            f"-- migrate:down\nDROP TABLE t{n};\n",
        )


def check_consistent(project: Project) -> set[str]:
    """Every applied version has its table with exactly its one row, and nothing else."""
    names = {row[0] for row in project.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    applied: set[str] = set()
    if "schema_migrations" in names:
        applied = {v for v, status in project.tracking().items() if status == "applied"}
    tables = {row[1] for row in project.schema() if row[0] == "table"}
    assert tables == {f"t{int(v[-1])}" for v in applied}, (tables, applied)
    for name in tables:
        assert project.query(f"SELECT count(*) FROM {name}") == [(1,)]
    return applied


#: Steps of one of ``build``'s migrations in a batch (see test_batching.STEPS_UP).
STEPS = 11
BATCHES = {
    "one-request": {},
    "two-per-request": {"INVOKE_MIGRATE_BATCH_STEPS": str(2 * STEPS)},
}


def requests_of_a_clean_run(sqld, tmp_path, env) -> int:
    with FaultProxy(sqld.port) as proxy:
        project = Project(tmp_path / "count", proxy.http_url)
        build(project)
        run = project.invoke("migrate.up", **env)
        assert run.code == 0, run.err
        return proxy.requests


def check_read_back(err: str, applied: set[str]) -> None:
    """A lost request that was read back names exactly what of it committed."""
    found = re.search(r"committed \(([^)]*)\) and \d+ did not \(([^)]*)\)", err)
    if found is None:
        return
    committed, rest = (
        {label.split("_")[0] for label in group.split(", ") if label != "none"}
        for group in found.groups()
    )
    assert committed <= applied and not rest & applied, (err, applied)


@HTTP_ONLY
@pytest.mark.parametrize("batch", list(BATCHES))
@pytest.mark.parametrize("forward", [False, True], ids=["lost-request", "lost-answer"])
def test_one_lost_request_at_every_position(sqld, sqld_bin, tmp_path, forward, batch):
    from tests.support.sqld import SqldServer

    env = BATCHES[batch]
    total = requests_of_a_clean_run(sqld, tmp_path, env)
    # read, lock, the migrations' request(s), release
    assert total == 4 + (batch == "two-per-request")
    failed_runs = read_back = 0
    for position in range(total):
        server = SqldServer(sqld_bin, tmp_path / f"sqld-{forward}-{batch}-{position}")
        server.workdir.mkdir()
        server.start()
        try:
            with FaultProxy(server.port) as proxy:
                project = Project(tmp_path / f"app-{forward}-{batch}-{position}", proxy.http_url)
                build(project)
                proxy.drop_after(requests=position, forward=forward)
                # A real process: the rerun takes over a lease left behind only once the
                # process that held it has ended.
                run = project.invoke("migrate.up", "--lock-timeout", "0", in_process=False, **env)
                assert proxy.drops == 1
                assert "Traceback" not in run.err
                # A lost read is retried on a fresh connection; a lost write is never
                # retried (it may have committed): the run stops with exit 5.
                assert run.code in (0, 5), (position, run.code, run.err)
                if run.code == 5:
                    failed_runs += 1
                    assert f"cannot reach {proxy.http_url}" in run.err, run.err
                    read_back += "read back from the database afterwards" in run.err
                before = check_consistent(project)
                check_read_back(run.err, before)

                proxy.pass_through()
                # A lost answer may leave our lease behind: same host, dead pid -> taken over.
                rerun = project.invoke("migrate.up", "--lock-timeout", "5")
                assert rerun.code == 0, (position, rerun.err)
                after = check_consistent(project)
                assert len(after) == MIGRATIONS and before <= after
                applied_rows = [r for r in project.log() if r[2] == "applied"]
                assert len(applied_rows) == MIGRATIONS  # nothing applied twice
        finally:
            server.stop()
    assert failed_runs >= total - 2  # every request but the first read (retried) ...
    assert read_back == total - 3  # ... and each lost batch was read back


def test_a_request_cut_mid_body_commits_nothing_and_says_so(sqld, tmp_path, remote_transport):
    """The proxy cuts the batch request (over WebSocket: the batch message) half-way
    through: sqld never got it whole, so nothing of it ran, and the read-back says so."""
    with FaultProxy(sqld.port) as proxy:
        url = proxy.http_url if remote_transport == "http" else proxy.ws_url
        project = Project(tmp_path / "app", url)
        for n in range(1, 41):
            project.write(
                f"{20250101000000 + n}_m{n}.sql",
                f"-- migrate:up\nCREATE TABLE m{n} (id INTEGER, v TEXT DEFAULT '{'x' * 300}');\n",
            )
        proxy.reset_counters()
        assert project.invoke("migrate.status").code == 0
        # the read and the lock are a few KB; the batch of 40 migrations is far more
        proxy.drop_after(nbytes=16_000)
        run = project.invoke("migrate.up", in_process=False)
        assert proxy.drops == 1
        assert run.code == 5, run.err
        assert "of the 40 migration(s) that request carried, 0 committed (none)" in run.err
        assert project.tracking() == {}
        assert [r for r in project.schema() if r[0] == "table"] == []
        proxy.pass_through()
        assert project.invoke("migrate.up", "--lock-timeout", "5").code == 0
        assert len(project.tracking()) == 40


@HTTP_ONLY
def test_slow_server_times_out_with_exit_5(sqld, tmp_path):
    with FaultProxy(sqld.port) as proxy:
        project = Project(tmp_path / "app", proxy.http_url)
        build(project)
        proxy.delay(600)  # an answer that never comes in time, however slow the machine
        run = project.invoke("migrate.status", INVOKE_MIGRATE_TIMEOUT="1")
        assert run.code == 5, run.err
        assert "no answer within 1 s" in run.err
        proxy.pass_through()
        assert project.invoke("migrate.up").code == 0


@HTTP_ONLY
def test_refused_connection_exits_5(sqld, tmp_path):
    with FaultProxy(sqld.port) as proxy:
        project = Project(tmp_path / "app", proxy.http_url)
        build(project)
        proxy.refuse()
        run = project.invoke("migrate.up")
        assert run.code == 5, run.err
        assert "cannot reach" in run.err and "Traceback" not in run.err
        proxy.pass_through()
        assert project.invoke("migrate.up").code == 0
        assert check_consistent(project) == {f"2025010100000{n}" for n in range(1, MIGRATIONS + 1)}


@HTTP_ONLY
def test_a_lost_answer_names_a_transaction_false_section_left_part_way(sqld, tmp_path):
    """The batch ran on the server (its transaction:false section failed at its second
    statement, after the first had committed) but the answer was lost: the read-back
    says which migration committed, which section stopped part-way, and which did not
    run."""
    with FaultProxy(sqld.port) as proxy:
        project = Project(tmp_path / "app", proxy.http_url)
        project.write("20250101000001_t1.sql", "-- migrate:up\nCREATE TABLE t1 (id INTEGER);\n")
        project.write(
            "20250101000002_nontx.sql",
            "-- migrate:up transaction:false\nCREATE TABLE n1 (id INTEGER);\n"
            "INSERT INTO nope VALUES (1);\n",
        )
        project.write("20250101000003_t3.sql", "-- migrate:up\nCREATE TABLE t3 (id INTEGER);\n")
        proxy.drop_after(requests=2, forward=True)  # the read and the lock pass
        run = project.invoke("migrate.up", "--json", in_process=False)
        assert proxy.drops == 1
        assert run.code == 5, run.err
        assert (
            "of the 3 migration(s) that request carried, 1 committed (20250101000001_t1)"
            " and 1 did not (20250101000003_t3)" in run.err
        ), run.err
        assert "20250101000002_nontx (transaction:false) stopped part-way" in run.err
        assert project.tracking() == {"20250101000001": "applied", "20250101000002": "failed"}
        # what completed is known (read back), not null
        assert [m["version"] for m in run.json["migrations"]] == ["20250101000001"]
        assert run.json["error"]["exit_code"] == 5
