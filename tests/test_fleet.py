"""Fleets: many databases, one set of migrations (migrate_tasks.fleet.runner, report.fleet).

Real databases only: a sqld with namespaces and an admin port, JWT sqlds, local files.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate_tasks.config.settings import Settings
from migrate_tasks.engine.core import RunOptions
from migrate_tasks.errors import EXIT_CONNECTION, MigrationFileError, UsageError
from migrate_tasks.fleet import runner as fleet
from migrate_tasks.fleet import workers
from migrate_tasks.fleet.admin import AdminApi
from migrate_tasks.report import fleet as report
from migrate_tasks.report.documents import fleet_json
from migrate_tasks.report.status import status_counts, status_summary
from tests.support.namespaces import NamespacedSqld
from tests.support.proxy import FaultProxy
from tests.support.sqld import JwtSqld

MIGRATIONS = {
    "20250101000001_accounts.sql": "-- migrate:up\nCREATE TABLE accounts (id INTEGER PRIMARY KEY);\n"
    "-- migrate:down\nDROP TABLE accounts;\n",
    "20250101000002_items.sql": "-- migrate:up\nCREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n"
    "-- migrate:down\nDROP TABLE items;\n",
    "20250101000003_items_name.sql": "-- migrate:up\nCREATE INDEX items_name ON items (name);\n"
    "-- migrate:down\nDROP INDEX items_name;\n",
}
VERSIONS = sorted(name.split("_", 1)[0] for name in MIGRATIONS)
HOUR = 3600


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, text in MIGRATIONS.items():
        (folder / name).write_text(text)
    return folder


def settings_for(migrations: Path, url: str = "file:unused.db", token: str | None = None):
    return Settings(url=url, directory=migrations, table="schema_migrations", auth_token=token)


@pytest.fixture
def ns_sqld(sqld_bin: Path, tmp_path: Path) -> Iterator[NamespacedSqld]:
    with NamespacedSqld(sqld_bin, tmp_path / "ns-sqld") as server:
        yield server


@pytest.fixture
def fleet_logs() -> Iterator[list[str]]:
    """Messages the migrate_tasks logger emits (INFO and up) while the test runs."""
    logger = logging.getLogger("migrate_tasks")
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def by_target(results: list[fleet.FleetResult]) -> dict[str, fleet.FleetResult]:
    return {r.namespace or r.target: r for r in results}


# -- namespaces of one sqld -----------------------------------------------------------------


@pytest.mark.sqld
@pytest.mark.target("http")
def test_fifty_namespaces_one_broken_then_fixed(ns_sqld, migrations, tmp_path, capsys):
    names = [f"tenant{i:02d}" for i in range(50)]
    for name in names:
        ns_sqld.create(name)
    # tenant07 already has a table called items: its 2nd migration must fail
    ns_sqld.execute("tenant07", "CREATE TABLE items (legacy TEXT)")
    names_file = tmp_path / "tenants.txt"
    names_file.write_text("# every tenant\n\n" + "\n".join(names) + "\n")
    settings = settings_for(migrations, ns_sqld.http_url)

    targets = fleet.discover_targets(
        str(names_file), admin_url=ns_sqld.admin_url, base_url=ns_sqld.http_url
    )
    assert [t.namespace for t in targets] == names
    assert all(t.host_header == f"{t.namespace}.127.0.0.1:{ns_sqld.server.port}" for t in targets)

    progress: list[tuple[int, int, int]] = []
    started = time.perf_counter()
    results = fleet.run_fleet(
        targets,
        fleet.up_operation(),
        settings=settings,
        jobs=8,
        on_progress=lambda *p: progress.append(p),
    )
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nfleet: 50 namespaces x 3 migrations, jobs=8: {elapsed:.2f} s")
    assert elapsed < 30

    outcome = by_target(results)
    assert [r.namespace for r in results] == names  # the order given, not completion order
    broken = outcome["tenant07"]
    assert broken.outcome == "failed" and broken.exit_code == 1
    assert "20250101000002_items.sql" in broken.error and "already exists" in broken.error
    ok = [r for r in results if r.namespace != "tenant07"]
    assert {(r.outcome, r.summary) for r in ok} == {("ok", "applied 3")}
    assert ok[0].details == {"applied": [n[:-4] for n in sorted(MIGRATIONS)]}
    assert progress[0] == (0, 0, 50) and progress[-1] == (50, 1, 0)
    assert [p[0] for p in progress] == sorted(p[0] for p in progress)
    assert ns_sqld.query("tenant07", "SELECT version, status FROM schema_migrations") == [
        (VERSIONS[0], "applied")
    ]

    table = report.fleet_table(results)
    assert "tenant07" in table and "failed" in table and "already exists" in table
    assert table.count("applied 3") == 49
    assert report.fleet_summary(results) == "50 databases: 49 ok, 1 failed, 0 skipped"
    doc = json.loads(fleet_json(results, "up", elapsed))
    assert doc["schema_version"] == 1 and doc["operation"] == "up"
    assert doc["summary"] == {"total": 50, "ok": 49, "failed": 1, "skipped": 0}
    assert {d["namespace"] for d in doc["databases"] if d["outcome"] == "failed"} == {"tenant07"}
    with pytest.raises(fleet.FleetFailed) as failed:
        fleet.check_results(results)
    assert failed.value.exit_code == 1 and "1 of 50 databases failed" in str(failed.value)

    # fix the broken tenant; the rerun finishes it and leaves the other 49 alone
    ns_sqld.execute("tenant07", "DROP TABLE items")
    again = fleet.run_fleet(targets, fleet.up_operation(), settings=settings, jobs=8)
    fleet.check_results(again)
    assert by_target(again)["tenant07"].summary == "applied 2"
    assert {r.summary for r in again if r.namespace != "tenant07"} == {"nothing to apply"}
    for name in names:
        applied = ns_sqld.query(
            name,
            "SELECT version, count(*) FROM schema_migrations_log"
            " WHERE action = 'up' AND outcome = 'applied' GROUP BY version ORDER BY version",
        )
        assert applied == [(v, 1) for v in VERSIONS], name
    assert ns_sqld.query(
        "tenant07", "SELECT version FROM schema_migrations_log WHERE outcome = 'failed'"
    ) == [(VERSIONS[1],)]

    status = fleet.run_fleet(
        targets,
        fleet.status_operation(summary=status_summary, counts=status_counts, check=True),
        settings=settings,
    )
    assert {r.summary for r in status} == {"3 of 3 migrations applied"}
    valid = fleet.run_fleet(targets, fleet.validate_operation(), settings=settings, jobs=8)
    assert {(r.outcome, r.summary) for r in valid} == {("ok", "ok")}


@pytest.mark.sqld
@pytest.mark.target("http")
def test_namespaces_suggested_by_metrics_are_checked(ns_sqld, migrations, tmp_path, fleet_logs):
    for name in ("alpha", "beta", "gone"):
        ns_sqld.create(name)
    ns_sqld.query("default", "SELECT 1")  # the default namespace shows up in /metrics too
    api = AdminApi(ns_sqld.admin_url)
    deadline = time.monotonic() + 120  # a bound for a broken sqld, not an expectation
    while not {"alpha", "beta", "gone", "default"} <= api.namespaces_in_metrics():
        assert time.monotonic() < deadline, "sqld never put the namespaces in /metrics"
        time.sleep(0.1)  # sqld fills the gauge about 1 s after a namespace is created
    ns_sqld.delete("gone")  # still in /metrics until sqld restarts
    assert "gone" in api.namespaces_in_metrics()

    targets = fleet.discover_targets(None, admin_url=ns_sqld.admin_url, base_url=ns_sqld.http_url)
    assert [t.namespace for t in targets] == ["alpha", "beta"]  # not gone, not default
    assert any("no endpoint that lists namespaces" in m for m in fleet_logs)

    # a names file is checked name by name, and names what it forgot
    names = tmp_path / "names.txt"
    names.write_text("alpha  # the first tenant\ndefault\n")
    targets = fleet.discover_targets(
        str(names), admin_url=ns_sqld.admin_url, base_url=ns_sqld.http_url
    )
    assert [t.namespace for t in targets] == ["alpha", "default"]
    assert any("not in the names file (not migrated): beta" in m for m in fleet_logs)
    names.write_text("alpha\nbeat\n")
    with pytest.raises(
        UsageError, match=r"no such namespace on the server: beat \(.*names.txt:2\)"
    ):
        fleet.discover_targets(str(names), admin_url=ns_sqld.admin_url, base_url=ns_sqld.http_url)
    names.write_text(f"{ns_sqld.http_url}\n")
    with pytest.raises(UsageError, match="lists namespace names, not URLs"):
        fleet.discover_targets(str(names), admin_url=ns_sqld.admin_url, base_url=ns_sqld.http_url)
    with pytest.raises(UsageError, match="data-plane URL"):
        fleet.discover_targets(None, admin_url=ns_sqld.admin_url, base_url="file:dev.db")

    results = fleet.run_fleet(
        fleet.discover_targets(None, admin_url=ns_sqld.admin_url, base_url=ns_sqld.http_url),
        fleet.up_operation(),
        settings=settings_for(migrations, ns_sqld.http_url),
        jobs=2,
    )
    assert [(r.namespace, r.summary) for r in results] == [
        ("alpha", "applied 3"),
        ("beta", "applied 3"),
    ]
    assert any(m.startswith("namespace alpha at http://127.0.0.1:") for m in fleet_logs)
    assert ns_sqld.query("default", "SELECT name FROM sqlite_master WHERE name = 'items'") == []


@pytest.mark.sqld
@pytest.mark.target("http")
def test_namespace_checks_share_a_few_kept_alive_connections(ns_sqld, tmp_path):
    """Every tenant of a names file is checked before any migration: one admin request
    each, but not one TCP (and TLS) handshake each, one after the other (100 tenants on a
    server 50 ms away cost 10-20 s before anything ran)."""
    names = [f"t{i:02d}" for i in range(30)]
    for name in names:
        ns_sqld.create(name)
    names_file = tmp_path / "names.txt"
    with FaultProxy(ns_sqld.admin_port) as admin:
        names_file.write_text("\n".join([*names[:20], "nope", *names[20:]]) + "\n")
        with pytest.raises(UsageError, match=r"no such namespace on the server: nope \("):
            fleet.discover_targets(
                str(names_file), admin_url=admin.http_url, base_url=ns_sqld.http_url
            )
        # /metrics, then each name once (again on a new connection if the server closed
        # an idle one: a GET changes nothing)
        retried = admin.http_requests - (1 + 31)
        assert 0 <= retried < 8
        assert admin.connections <= 1 + 8 + retried  # /metrics, then 8 checking at a time
        names_file.write_text("\n".join(names) + "\n")
        targets = fleet.discover_targets(
            str(names_file), admin_url=admin.http_url, base_url=ns_sqld.http_url
        )
    assert [t.namespace for t in targets] == names  # in the file's order


@pytest.mark.sqld
@pytest.mark.target("http")
def test_path_routing_needs_a_host_without_dots(ns_sqld, migrations, tmp_path):
    """What docs/fleet.md says about /dev/<ns> URLs in a fleet file, held to the server."""
    ns_sqld.create("viapath")
    port = ns_sqld.server.port
    urls = tmp_path / "fleet.txt"
    urls.write_text(f"http://localhost:{port}/dev/viapath\nhttp://127.0.0.1:{port}/dev/viapath\n")
    results = fleet.run_fleet(
        fleet.discover_targets(str(urls)), fleet.up_operation(), settings=settings_for(migrations)
    )
    assert results[0].outcome == "ok" and results[0].summary == "applied 3"
    assert results[1].outcome == "failed" and "Namespace `127` doesn't exist" in results[1].error
    assert ns_sqld.query("viapath", "SELECT count(*) FROM schema_migrations") == [(3,)]


@pytest.mark.sqld
@pytest.mark.target("http")
def test_admin_api_key_is_sent_and_never_shown(sqld_bin, tmp_path):
    key = "admin-key-4c1e7f"
    extra = ("--admin-auth-key", key)
    with NamespacedSqld(sqld_bin, tmp_path / "keyed", extra) as server:
        with pytest.raises(Exception, match="set LIBSQL_ADMIN_AUTH_KEY") as refused:
            AdminApi(server.admin_url).exists("default")
        assert refused.value.exit_code == EXIT_CONNECTION
        assert (
            AdminApi.from_env(server.admin_url, {"LIBSQL_ADMIN_AUTH_KEY": key}).exists("x") is False
        )
        with pytest.raises(Exception, match="the server refused it") as wrong:
            AdminApi(server.admin_url, key="not-the-key").exists("default")
        assert key not in str(wrong.value)


# -- a file of URLs, with per-database tokens -----------------------------------------------


@pytest.mark.target("http")
def test_url_file_with_token_env(jwt_sqld, sqld_bin, migrations, tmp_path, monkeypatch):
    now = int(time.time())
    with JwtSqld(sqld_bin, tmp_path / "jwt-b") as other:
        token_a = jwt_sqld.mint({"exp": now + HOUR})
        token_b = other.mint({"exp": now + HOUR})
        urls = tmp_path / "fleet.txt"
        urls.write_text(
            "# two servers with their own keys, and a local file\n"
            f"{jwt_sqld.http_url}  token_env=TENANT_A_TOKEN   # tenant a\n"
            f"{other.http_url}\n"
            f"file:{tmp_path / 'local.db'}\n"
        )
        monkeypatch.setenv("TENANT_A_TOKEN", token_a)
        settings = settings_for(migrations, token=token_b)
        targets = fleet.discover_targets(str(urls), auth_token=token_b)  # b: the default token
        assert [t.origin for t in targets] == [f"{urls}:2", f"{urls}:3", f"{urls}:4"]
        assert token_a not in repr(targets) and token_b not in repr(targets)
        results = fleet.run_fleet(targets, fleet.up_operation(), settings=settings, jobs=3)
        assert [(r.outcome, r.summary) for r in results] == [("ok", "applied 3")] * 3

        # a token for the wrong server: that database fails, and no token is ever shown
        monkeypatch.setenv("TENANT_A_TOKEN", token_b)
        targets = fleet.discover_targets(str(urls), auth_token=token_b)
        results = fleet.run_fleet(
            targets,
            fleet.status_operation(summary=status_summary, counts=status_counts),
            settings=settings,
        )
        assert [r.outcome for r in results] == ["failed", "ok", "ok"]
        assert results[0].exit_code == EXIT_CONNECTION and "401" in results[0].error
        shown = report.fleet_table(results) + fleet_json(results, "status")
        assert token_a not in shown and token_b not in shown
        with pytest.raises(fleet.FleetFailed) as failed:
            fleet.check_results(results)
        assert failed.value.exit_code == EXIT_CONNECTION


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("http://127.0.0.1:9/?authToken=sekrit-value", "tokens never go in the fleet file"),
        ("http://127.0.0.1:9  token=sekrit-value", "tokens never go in the fleet file"),
        ("http://127.0.0.1:9  token_env=NOT_SET_ANYWHERE", "NOT_SET_ANYWHERE is not set"),
        ("http://127.0.0.1:9  token_env=bad-name", "not an environment variable name"),
        ("http://127.0.0.1:9  colour=blue", "unknown option 'colour'"),
        ("a.db  token_env=HOME", "a local file takes no token_env"),
        ("a.db\nfile:a.db", "is listed twice"),
        ("http://example.com:8080", "refusing to talk to example.com without TLS"),
        ("# nothing but a comment", "names no databases"),
    ],
)
def test_url_file_mistakes_are_refused_before_anything_runs(tmp_path, line, message):
    urls = tmp_path / "fleet.txt"
    urls.write_text(line + "\n")
    with pytest.raises(UsageError, match=message) as refused:
        fleet.discover_targets(str(urls), cwd=tmp_path, environ={"HOME": "/root"})
    assert "sekrit-value" not in str(refused.value)
    assert f"{urls}:1" in str(refused.value) or "names no databases" in message


# -- a glob of local files ------------------------------------------------------------------


def sql(path: Path, statement: str) -> list[tuple]:
    """Run one statement on a local file with the stdlib (closing the connection)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement).fetchall()


def make_databases(folder: Path, names: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    for name in names:
        sql(folder / name, "PRAGMA user_version = 1")  # a real, empty SQLite file


def test_glob_of_local_files(migrations, tmp_path, fleet_logs):
    make_databases(tmp_path / "tenants", ["a.db", "b.db", "c.db"])
    (tmp_path / "tenants" / "notes.txt").write_text("not a database")
    (tmp_path / "tenants" / "a.db-journal").write_text("")  # a side file is never a target
    targets = fleet.discover_targets("tenants/*.db*", cwd=tmp_path)
    assert [t.display for t in targets] == ["tenants/a.db", "tenants/b.db", "tenants/c.db"]

    results = fleet.run_fleet(targets, fleet.up_operation(), settings=settings_for(migrations))
    assert [(r.target, r.summary) for r in results] == [
        ("tenants/a.db", "applied 3"),
        ("tenants/b.db", "applied 3"),
        ("tenants/c.db", "applied 3"),
    ]
    assert "tenants/b.db: applied 20250101000002_items" in " ".join(fleet_logs)
    for name in ("a.db", "b.db", "c.db"):
        assert sql(tmp_path / "tenants" / name, "SELECT count(*) FROM schema_migrations") == [(3,)]
    again = fleet.run_fleet(targets, fleet.up_operation(), settings=settings_for(migrations))
    assert {r.summary for r in again} == {"nothing to apply"}

    urls = tmp_path / "fleet.txt"  # paths in a fleet file: relative to where you run it
    urls.write_text("tenants/a.db\nfile:tenants/b.db\n")
    listed = fleet.discover_targets(str(urls), cwd=tmp_path)
    assert [t.location for t in listed] == [str(tmp_path / "tenants" / n) for n in ("a.db", "b.db")]
    assert [t.display for t in listed] == ["tenants/a.db", "file:tenants/b.db"]

    single = fleet.discover_targets("tenants/a.db", cwd=tmp_path)  # an SQLite file: itself
    assert [(t.kind, t.display) for t in single] == [("file", "tenants/a.db")]
    with pytest.raises(UsageError, match=r"'other/\*\.db' matched no database files"):
        fleet.discover_targets("other/*.db", cwd=tmp_path)
    with pytest.raises(UsageError, match="no such file"):
        fleet.discover_targets("tenants.txt", cwd=tmp_path)
    with pytest.raises(UsageError, match="is a folder; give a glob such as 'tenants/"):
        fleet.discover_targets("tenants", cwd=tmp_path)


@pytest.mark.parametrize("threads", ["1", "0"], ids=["threads", "processes-if-possible"])
def test_each_file_is_read_and_parsed_once_for_the_whole_fleet(
    migrations, tmp_path, monkeypatch, threads
):
    """Not once per database: with 100 databases that was most of the fleet's own CPU
    time. ``up`` checks every file before the databases start, so each is read and parsed
    once in all; ``down`` parses what it rolls back, once per worker at most (once in all
    on threads). Every read and parse is written to a file, so forked workers count too."""
    from migrate_tasks.files import parser, source

    monkeypatch.setenv(workers.THREADS_ENV, threads)
    calls = tmp_path / "calls.log"
    real_parse, real_read = parser.parse_migration, source.MigrationFile.read_small

    def note(what: str, name: str) -> None:
        with open(calls, "a") as out:  # one short append: whole lines, whichever process
            out.write(f"{what} {name} {os.getpid()}\n")

    def counting_parse(data: bytes, display: str):  # the real parser, counted
        note("parse", Path(display).name)
        return real_parse(data, display)

    def counting_read(self: source.MigrationFile, limit: int) -> bytes | None:
        note("read", self.path.name)
        return real_read(self, limit)

    def counted() -> dict[tuple[str, str], list[str]]:
        found: dict[tuple[str, str], list[str]] = {}
        for line in calls.read_text().splitlines() if calls.exists() else []:
            what, name, pid = line.split()
            found.setdefault((what, name), []).append(pid)
        calls.unlink(missing_ok=True)
        return found

    monkeypatch.setattr(parser, "parse_migration", counting_parse)
    monkeypatch.setattr(source.MigrationFile, "read_small", counting_read)
    make_databases(tmp_path / "t", [f"{letter}.db" for letter in "abcd"])
    targets = fleet.discover_targets("t/*.db", cwd=tmp_path)
    settings = settings_for(migrations)

    results = fleet.run_fleet(targets, fleet.up_operation(), settings=settings, jobs=2)
    assert [r.summary for r in results] == ["applied 3"] * 4
    expected = {(what, name) for what in ("parse", "read") for name in MIGRATIONS}
    up = counted()
    assert set(up) == expected
    assert all(len(pids) == 1 for pids in up.values()), up

    results = fleet.run_fleet(targets, fleet.down_operation(all_=True), settings=settings, jobs=3)
    assert [r.summary for r in results] == ["rolled back 3"] * 4
    down = counted()
    assert set(down) == expected
    for pids in down.values():
        assert len(pids) == len(set(pids)) <= 3, down  # never twice in one process
        if threads == "1":
            assert len(pids) == 1
    for letter in "abcd":
        assert (
            sql(tmp_path / "t" / f"{letter}.db", "SELECT status FROM schema_migrations")
            == [("rolled_back",)] * 3
        )


def test_fail_fast_lets_running_databases_finish_and_skips_the_queued(migrations, tmp_path):
    names = [f"{letter}.db" for letter in "abcdef"]
    make_databases(tmp_path / "t", names)
    sql(tmp_path / "t" / "b.db", "CREATE TABLE items (legacy TEXT)")
    targets = fleet.discover_targets("t/*.db", cwd=tmp_path)
    settings = settings_for(migrations)

    results = fleet.run_fleet(
        targets, fleet.up_operation(), settings=settings, fail_fast=True, jobs=1
    )
    assert [r.outcome for r in results] == ["ok", "failed", *["skipped"] * 4]
    assert "already exists" in results[1].error
    for name in names[2:]:
        assert sql(tmp_path / "t" / name, "SELECT name FROM sqlite_master") == []
    with pytest.raises(fleet.FleetFailed, match="1 of 6 databases failed, 4 skipped"):
        fleet.check_results(results)
    assert report.fleet_summary(results) == "6 databases: 1 ok, 1 failed, 4 skipped"

    # without --fail-fast every other database goes ahead
    results = fleet.run_fleet(targets, fleet.up_operation(), settings=settings, jobs=3)
    assert [r.outcome for r in results] == ["ok", "failed", *["ok"] * 4]
    assert [r.summary for r in results[2:]] == ["applied 3"] * 4


def test_a_bad_migration_file_stops_the_fleet_before_any_database(migrations, tmp_path):
    make_databases(tmp_path / "t", ["a.db", "b.db"])
    before = {p.name: p.read_bytes() for p in (tmp_path / "t").iterdir()}
    (migrations / "20250101000004_broken.sql").write_text(
        "-- migrate:up\nCREATE TABLE x (id);\nCOMMIT;\n"
    )
    targets = fleet.discover_targets("t/*.db", cwd=tmp_path)
    with pytest.raises(MigrationFileError, match=r"20250101000004_broken\.sql"):
        fleet.run_fleet(targets, fleet.up_operation(), settings=settings_for(migrations))
    assert {p.name: p.read_bytes() for p in (tmp_path / "t").iterdir()} == before


def test_options_a_fleet_cannot_honour_are_refused(migrations, tmp_path):
    with pytest.raises(UsageError, match="--dry-run works on one database"):
        fleet.up_operation(options=RunOptions(dry_run=True))
    with pytest.raises(ValueError, match="confirm once for the whole fleet"):
        fleet.down_operation(options=RunOptions(confirm=lambda what: True))
    make_databases(tmp_path / "t", ["a.db"])
    targets = fleet.discover_targets("t/*.db", cwd=tmp_path)
    with pytest.raises(UsageError, match="--jobs must be at least 1"):
        fleet.run_fleet(targets, fleet.up_operation(), settings=settings_for(migrations), jobs=0)
    with pytest.raises(UsageError, match="--fleet FILE"):
        fleet.discover_targets(None)


def test_progress_printer_rewrites_one_line_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    show = report.fleet_progress_printer(screen)
    show(0, 0, 3)
    show(2, 1, 1)
    show(3, 1, 0)
    assert screen.getvalue() == (
        "\r\x1b[Kfleet: 0/3 done, 0 failed, 3 remaining"
        "\r\x1b[Kfleet: 2/3 done, 1 failed, 1 remaining"
        "\r\x1b[Kfleet: 3/3 done, 1 failed, 0 remaining\n"
    )
    pipe = io.StringIO()
    report.fleet_progress_printer(pipe)(1, 0, 0)
    assert pipe.getvalue() == ""


def test_a_forked_workers_log_lines_are_handled_before_its_result_counts() -> None:
    """A database's log records come back on another channel than its result; the fleet
    counts the database (and may draw "3/3 done" as its last line) only once its records
    are handled. A slow handler makes the records arrive late every time: before the fix
    the results overtook them (the progress test saw it on 1 run in 5 under load)."""
    events: list[str] = []

    class Slow(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            time.sleep(0.2)
            events.append(record.getMessage())

    def work(index: int) -> int:
        logging.getLogger(workers.LOGGER).warning("log %d", index)
        return index

    logger = logging.getLogger(workers.LOGGER)
    handler = Slow()
    logger.addHandler(handler)
    try:
        with workers.pool(work, 2, processes=True) as pool:
            futures = {pool.submit(i): i for i in range(3)}
            for future, index in futures.items():
                assert pool.result(future, index, lambda: -1) == index
                events.append(f"result {index}")
    finally:
        logger.removeHandler(handler)
    for index in range(3):
        assert events.index(f"log {index}") < events.index(f"result {index}"), events
