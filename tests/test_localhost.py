"""``*.localhost`` names (RFC 6761: always loopback), the way sqld addresses a namespace.

Many resolvers do not know them (this machine's does not: glibc with ``files dns``). The
fixture below makes this process's resolver refuse every such name on any machine, so
these tests show that the HTTP driver, the admin API client and TLS never depend on it.
The same through the real programs: tests/test_fleet_cli.py.
"""

from __future__ import annotations

import socket
from contextlib import closing
from pathlib import Path

import pytest

from migrate_tasks.config.settings import Settings
from migrate_tasks.drivers import Step, open_driver
from migrate_tasks.drivers.http import HranaHttpDriver
from migrate_tasks.errors import ConnectionFailed
from migrate_tasks.fleet import runner as fleet
from migrate_tasks.fleet.admin import AdminApi
from migrate_tasks.report.status import status_counts, status_summary
from tests.support.namespaces import NamespacedSqld
from tests.support.sqld import TlsProxy

M = "-- migrate:up\nCREATE TABLE t{n} (id INTEGER);\n-- migrate:down\nDROP TABLE t{n};\n"


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for n in (1, 2, 3):
        (folder / f"2025010100000{n}_t{n}.sql").write_text(M.format(n=n))
    return folder


def settings_for(migrations: Path) -> Settings:
    return Settings(url="file:unused.db", directory=migrations, table="schema_migrations")


@pytest.fixture
def ns_sqld(sqld_bin: Path, tmp_path: Path):
    with NamespacedSqld(sqld_bin, tmp_path / "ns-sqld") as server:
        yield server


@pytest.fixture
def resolver_without_localhost_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """This process's resolver fails every ``*.localhost`` name, as many do (this machine's
    does too), whatever the machine: the names asked for are recorded."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and host.rstrip(".").lower().endswith(".localhost"):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.sqld
@pytest.mark.target("http")
def test_localhost_names_reach_loopback_without_the_resolver(
    ns_sqld, migrations, tmp_path, resolver_without_localhost_names
):
    """RFC 6761: every ``*.localhost`` name is loopback, and ``NS.localhost`` is how sqld
    addresses a namespace. The HTTP driver and the admin API client connect such names to
    ``localhost`` and send the name itself in the Host header (which picks the namespace)."""
    for name in ("tenant1", "tenant2"):
        ns_sqld.create(name)
    port = ns_sqld.server.port
    urls = tmp_path / "fleet.txt"
    urls.write_text(f"http://tenant1.localhost:{port}\nhttp://tenant2.localhost:{port}/\n")
    targets = fleet.discover_targets(str(urls))
    results = fleet.run_fleet(targets, fleet.up_operation(), settings=settings_for(migrations))
    assert [(r.outcome, r.summary) for r in results] == [("ok", "applied 3")] * 2
    for name in ("tenant1", "tenant2"):
        assert ns_sqld.query(name, "SELECT count(*) FROM schema_migrations") == [(3,)]
    assert ns_sqld.query("default", "SELECT name FROM sqlite_master WHERE name = 'items'") == []

    api = AdminApi(f"http://sqld-admin.localhost:{ns_sqld.admin_port}")
    assert api.exists("tenant1") and not api.exists("tenant3")
    names = tmp_path / "names.txt"
    names.write_text("tenant1\ntenant2\n")
    base = f"http://sqld.localhost:{port}"
    targets = fleet.discover_targets(str(names), admin_url=api.display, base_url=base)
    assert [t.host_header for t in targets] == [f"tenant{n}.sqld.localhost:{port}" for n in (1, 2)]
    results = fleet.run_fleet(
        targets,
        fleet.status_operation(summary=status_summary, counts=status_counts),
        settings=settings_for(migrations),
    )
    assert [(r.outcome, r.summary) for r in results] == [("ok", "3 of 3 migrations applied")] * 2
    assert resolver_without_localhost_names == []  # never asked: no DNS leak, no failure

    # WebSocket too: libsql-client's aiohttp session resolves the name to loopback and
    # sends it in the Host header, so tenant2 is what the statements reach
    with open_driver(f"ws://tenant2.localhost:{port}") as ws:
        ws.run_atomic([Step("CREATE TABLE over_ws (x)")])
        assert ws.query("SELECT count(*) FROM schema_migrations") == [(3,)]
    assert ns_sqld.query("tenant2", "SELECT name FROM sqlite_master WHERE name = 'over_ws'")
    assert ns_sqld.query("tenant1", "SELECT name FROM sqlite_master WHERE name = 'over_ws'") == []
    assert resolver_without_localhost_names == []


@pytest.mark.target("http")
def test_https_to_a_localhost_name_verifies_that_name(
    sqld, tmp_path, resolver_without_localhost_names
):
    """The socket goes to loopback; TLS still checks the certificate against the name in
    the URL (the test CA's certificate names tenant1.localhost, not tenant2.localhost)."""
    with TlsProxy(sqld.port, tmp_path / "tls") as proxy:
        named = HranaHttpDriver(f"https://tenant1.localhost:{proxy.port}", ca_file=proxy.ca_file)
        with closing(named):
            assert named.query("SELECT 1") == [(1,)]
        other = HranaHttpDriver(
            f"https://tenant2.localhost:{proxy.port}", ca_file=proxy.ca_file, timeout=5
        )
        with closing(other), pytest.raises(ConnectionFailed) as info:
            other.query("SELECT 1")
        assert "certificate verification failed" in str(info.value)
        assert "tenant2.localhost" in str(info.value)
    assert resolver_without_localhost_names == []


@pytest.mark.sqld
@pytest.mark.target("ws")
def test_ws_driver_changes_nothing_for_the_rest_of_the_process(
    sqld, resolver_without_localhost_names
):
    """Our Python API and pytest plugin run in users' processes, which may use aiohttp or
    libsql-client themselves: the ws driver offers ``hrana3`` and resolves ``*.localhost``
    names on its own connections only (before: it patched libsql-client's ``HranaConn``
    and aiohttp's default resolver for the whole process)."""
    import aiohttp
    import aiohttp.connector
    import aiohttp.resolver
    import libsql_client
    from libsql_client.hrana.conn import HranaConn

    from migrate_tasks.drivers.ws_client import RawStream

    port = sqld.port
    with open_driver(f"ws://db.localhost:{port}") as ws:  # a *.localhost name, and hrana3
        ws.run_atomic([Step("CREATE TABLE over_ws (x)")])
        stream = RawStream(ws._open())
        try:
            assert stream.protocol() == "hrana3"
        finally:
            stream.close()
    assert resolver_without_localhost_names == []  # our resolver never asked the system

    assert aiohttp.connector.DefaultResolver is aiohttp.resolver.DefaultResolver
    connect = HranaConn.__dict__["_do_connect"]
    assert connect.__qualname__ == "HranaConn._do_connect", connect
    assert not hasattr(HranaConn, "offers_hrana3")
    with libsql_client.create_client_sync(sqld.ws_url) as plain:  # a user's own client
        assert plain.execute("SELECT count(*) FROM over_ws").rows[0][0] == 0
        socket_ = plain._client._conn._socket  # type: ignore[attr-defined]
        assert socket_.protocol == "hrana2"  # what libsql-client 0.3.1 offers by itself
    # a user's own client leaves the name to the system's resolver, as before
    with (
        libsql_client.create_client_sync(f"ws://db.localhost:{port}") as plain,
        pytest.raises(aiohttp.ClientConnectorError),
    ):
        plain.execute("SELECT 1")
    assert resolver_without_localhost_names == ["db.localhost"]
