"""The benchmark suite's own parts that decide an outcome: the W7 inspection (what a
failed run left) and the counting proxy in front of a WebSocket. No timing here: the
benchmarks measure, these tests check that what they report can be trusted."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _failure import inspect  # noqa: E402  (benchmarks/ is not a package)
from _measure import Run, hrana_query  # noqa: E402
from _workloads import failing_migrations  # noqa: E402

from tests.support.sqld import SqldServer  # noqa: E402

pytestmark = pytest.mark.sqld


def _leave_applied(url: str, migrations: list, count: int) -> None:
    """What a run that applied the first ``count`` migrations leaves: tables and rows."""
    hrana_query(
        url,
        "CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, name TEXT, status TEXT)",
    )
    for m in migrations[:count]:
        hrana_query(url, f"CREATE TABLE t{m.number:05d} (id INTEGER PRIMARY KEY)")
        hrana_query(
            url, f"INSERT INTO schema_migrations VALUES ('{m.version}', '{m.name}', 'applied')"
        )


def _failed_run(output: str) -> Run:
    return Run(seconds=1.0, peak_mb=30.0, code=1, timed_out=False, output=output)


def test_w7_inspection_accepts_exactly_the_migrations_before_the_failing_one(
    sqld: SqldServer,
) -> None:
    migrations = failing_migrations(6, 4)
    _leave_applied(sqld.http_url, migrations, 3)
    error = f"migrate: {migrations[3].stem}.sql line 5: NOT NULL constraint failed"
    facts = inspect(sqld.http_url, "ours", migrations, 4, _failed_run(error))
    assert facts["right"], facts["problems"]
    assert (facts["tables"], facts["recorded"], facts["expected_applied"]) == (3, 3, 3)


def test_w7_inspection_rejects_one_migration_too_many_or_a_silent_error(
    sqld: SqldServer,
) -> None:
    migrations = failing_migrations(6, 4)
    _leave_applied(sqld.http_url, migrations, 4)  # the failing one committed too
    facts = inspect(sqld.http_url, "ours", migrations, 4, _failed_run("something failed"))
    assert not facts["right"]
    assert "tables t00001..t00004 (4), expected t00001..t00003 (3)" in str(facts["problems"])
    assert "recorded 4 applied, expected 3" in str(facts["problems"])
    assert f"does not name {migrations[3].stem}.sql" in str(facts["problems"])
    # an all-in-one-transaction run must leave nothing
    facts = inspect(sqld.http_url, "ours-1tx", migrations, 4, _failed_run(migrations[3].stem))
    assert not facts["right"]


_DROPPED_SOCKET = """
import sys
sys.path.insert(0, {bench!r})
import libsql_client
from _proxy import CountingProxy
from migrate_tasks.drivers.ws_client import RawStream

with CountingProxy({port}) as proxy:
    with libsql_client.create_client_sync(f"ws://127.0.0.1:{{proxy.port}}") as client:
        client.execute("SELECT 1")
        seen = proxy.counts()["ws_requests"]
        # is_autocommit is Hrana 3; on libsql-client's hrana2 socket sqld closes it
        steps = [{{"stmt": {{"sql": "SELECT 1"}}, "condition": {{"type": "is_autocommit"}}}}]
        try:
            RawStream(client).batch(steps, close=False)
        except libsql_client.LibsqlError as exc:
            print(seen, exc.code)
"""


def test_proxy_passes_a_websocket_the_server_dropped_on_to_the_client(
    sqld: SqldServer, tmp_path: Path
) -> None:
    """sqld closes a WebSocket on a protocol error; through the benchmark proxy the
    client used to wait forever (the proxy never closed the client's side)."""
    script = tmp_path / "dropped.py"
    bench = str(ROOT / "benchmarks")
    script.write_text(textwrap.dedent(_DROPPED_SOCKET.format(bench=bench, port=sqld.port)))
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,  # a hang, not a slow machine: the answer takes well under a second
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen, code = done.stdout.split()
    assert code == "HRANA_WEBSOCKET_ERROR"
    assert int(seen) >= 2  # open_stream and execute passed the proxy before the answer
