"""The fault-injection proxy, proven against a real sqld through our HTTP driver, and
what the driver does when the network fails at each point of a request."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from migrate_tasks.drivers import Step, open_driver
from migrate_tasks.drivers.http import HranaHttpDriver
from migrate_tasks.errors import ConnectionFailed
from tests.support.proxy import FaultProxy
from tests.support.sqld import SqldServer

MAYBE = "may or may not have been applied"


@pytest.fixture
def proxy(sqld: SqldServer) -> Iterator[FaultProxy]:
    with FaultProxy(sqld.port, io_timeout=10) as proxy:
        yield proxy


@pytest.fixture
def via_proxy(proxy: FaultProxy) -> Iterator[HranaHttpDriver]:
    """Our HTTP driver talking to sqld through the proxy; table ``t`` exists."""
    with HranaHttpDriver(proxy.http_url, timeout=5) as driver:
        driver.run_atomic([Step("CREATE TABLE t (v)")])
        proxy.reset_counters()
        yield driver


def rows_in_t(sqld: SqldServer) -> list[tuple]:
    """Read straight from sqld, bypassing the proxy."""
    with closing(open_driver(sqld.http_url)) as direct:
        return direct.query("SELECT v FROM t ORDER BY v")


@pytest.mark.target("http")
def test_pass_counts_connections_and_requests(via_proxy, proxy: FaultProxy, sqld) -> None:
    via_proxy.run_atomic([Step("INSERT INTO t VALUES (1)")])
    assert via_proxy.query("SELECT count(*) FROM t") == [(1,)]
    via_proxy.run_each([Step("INSERT INTO t VALUES (2)"), Step("INSERT INTO t VALUES (3)")])
    assert (proxy.requests, proxy.http_requests, proxy.connections) == (3, 3, 0)  # keep-alive
    assert proxy.drops == 0
    assert rows_in_t(sqld) == [(1,), (2,), (3,)]


@pytest.mark.target("ws")
def test_websocket_passes_through_the_upgrade(proxy: FaultProxy) -> None:
    with closing(open_driver(proxy.ws_url, timeout=5)) as driver:
        driver.run_atomic([Step("CREATE TABLE w (v)"), Step("INSERT INTO w VALUES (1)")])
        assert driver.query("SELECT v FROM w") == [(1,)]
    assert proxy.http_requests == 1 and proxy.requests == 0  # one GET upgrade, no POST


@pytest.mark.target("http")
def test_drop_before_forward_never_reaches_the_server(via_proxy, proxy, sqld) -> None:
    proxy.drop_after(requests=1)
    via_proxy.run_atomic([Step("INSERT INTO t VALUES (1)")])  # the one that passes
    with pytest.raises(ConnectionFailed) as info:
        via_proxy.run_atomic([Step("INSERT INTO t VALUES (2)")])
    assert MAYBE in str(info.value)  # the client cannot know; here it did not arrive
    assert proxy.drops == 1
    assert rows_in_t(sqld) == [(1,)]
    via_proxy.run_atomic([Step("INSERT INTO t VALUES (3)")])  # a drop fires once
    assert rows_in_t(sqld) == [(1,), (3,)]


@pytest.mark.target("http")
def test_drop_after_forward_commits_but_loses_the_answer(via_proxy, proxy, sqld) -> None:
    proxy.drop_after(requests=0, forward=True)
    with pytest.raises(ConnectionFailed) as info:
        via_proxy.run_atomic([Step("INSERT INTO t VALUES (1)")])
    assert MAYBE in str(info.value)
    assert proxy.drops == 1
    assert rows_in_t(sqld) == [(1,)]  # it was applied: exactly why the message hedges


@pytest.mark.target("http")
def test_a_dropped_read_on_a_kept_alive_connection_is_retried(via_proxy, proxy) -> None:
    proxy.drop_after(requests=0)
    assert via_proxy.query("SELECT 41 + 1") == [(42,)]
    assert (proxy.drops, proxy.requests, proxy.connections) == (1, 2, 1)


@pytest.mark.target("http")
def test_cut_mid_request_applies_nothing(via_proxy, proxy, sqld) -> None:
    proxy.drop_after(nbytes=300)  # inside the body of the next request
    with pytest.raises(ConnectionFailed):
        via_proxy.run_atomic([Step("INSERT INTO t VALUES (?)", ("x" * 5000,))])
    assert proxy.drops == 1
    assert rows_in_t(sqld) == []


@pytest.mark.target("http")
def test_refuse_is_connection_failed(proxy: FaultProxy) -> None:
    proxy.refuse()
    with HranaHttpDriver(proxy.http_url, timeout=5) as driver:
        with pytest.raises(ConnectionFailed) as info:
            driver.run_atomic([Step("CREATE TABLE r (v)")])
        assert f"cannot reach http://127.0.0.1:{proxy.port}" in str(info.value)
        assert proxy.connections == 1 and proxy.requests == 0
        proxy.pass_through()
        driver.run_atomic([Step("CREATE TABLE r (v)")])
        assert proxy.requests == 1
    assert proxy.requests == 2  # closing the driver closes the stream it kept open


@pytest.mark.target("http")
def test_delay_trips_the_driver_timeout(proxy: FaultProxy, sqld) -> None:
    with HranaHttpDriver(proxy.http_url, timeout=0.5) as driver:
        driver.run_atomic([Step("CREATE TABLE d (v)")])
        proxy.delay(600)  # far beyond the driver's timeout, however slow the machine
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as info:
            driver.run_atomic([Step("INSERT INTO d VALUES (1)")])
        assert time.monotonic() - started < 300  # gave up long before the answer
        assert "no answer within 0.5 s" in str(info.value) and MAYBE in str(info.value)
        proxy.pass_through()
    with closing(open_driver(sqld.http_url)) as direct:
        assert direct.query("SELECT count(*) FROM d") == [(1,)]  # slow, not lost


@pytest.mark.target("http")
def test_close_clients_then_the_driver_reconnects(via_proxy, proxy, sqld) -> None:
    via_proxy.query("SELECT 1")
    assert proxy.connections == 0  # still the fixture's kept-alive connection
    proxy.close_clients()
    sock = via_proxy._client._conn.sock  # type: ignore[union-attr]
    assert select.select([sock], [], [], 60)[0], "the reset never reached the driver"
    via_proxy.run_atomic([Step("INSERT INTO t VALUES (1)")])  # seen dead, not sent on it
    assert proxy.connections == 1
    assert rows_in_t(sqld) == [(1,)]


# -- streamed units (run_atomic_iter) under network faults ----------------------------


def many(n: int) -> Iterator[Step]:
    for i in range(n):
        yield Step("INSERT INTO t VALUES (?)", (i,))


@pytest.mark.target("http")
def test_stream_sends_chunks_while_it_iterates(via_proxy, proxy, monkeypatch) -> None:
    """Requests go out while the producer is still producing (memory stays bounded),
    one per chunk: BEGIN, ceil(steps / chunk) batches, the last one with COMMIT."""
    monkeypatch.setattr(HranaHttpDriver, "chunk_max_steps", 1000)
    seen: list[int] = []

    def steps() -> Iterator[Step]:
        for i, step in enumerate(many(10_500)):
            if i % 1000 == 0:
                seen.append(proxy.requests)
            yield step

    via_proxy.run_atomic_iter(steps())
    assert seen == [0, *range(2, 12)]  # BEGIN went out with the first step
    assert proxy.requests == 12  # BEGIN + 10 full chunks + the last 500 with COMMIT
    assert via_proxy.query("SELECT count(*) FROM t") == [(10_500,)]


@pytest.mark.target("http")
def test_stream_connection_lost_midway_commits_nothing(via_proxy, proxy, sqld, monkeypatch):
    monkeypatch.setattr(HranaHttpDriver, "chunk_max_steps", 100)
    proxy.drop_after(requests=3)  # BEGIN and two chunks pass; the third chunk is lost
    began = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        via_proxy.run_atomic_iter(many(1000))
    assert "nothing of this unit was committed" in str(info.value)
    assert MAYBE not in str(info.value)
    assert proxy.drops == 1
    assert proxy.requests == 5  # BEGIN, two chunks, the lost one, and our ROLLBACK
    assert rows_in_t(sqld) == []
    with closing(open_driver(sqld.http_url, timeout=30)) as direct:
        direct.run_atomic([Step("INSERT INTO t VALUES (-1)")])  # the lock was released
    # by our ROLLBACK: sqld's steal frees it only once the transaction is 5 s old
    assert time.monotonic() - began < 4.5


@pytest.mark.target("http")
def test_stream_commit_answer_lost_but_applied(via_proxy, proxy, sqld, monkeypatch) -> None:
    monkeypatch.setattr(HranaHttpDriver, "chunk_max_steps", 100)
    proxy.drop_after(requests=3, forward=True)  # BEGIN, chunk, chunk, then COMMIT's answer
    with pytest.raises(ConnectionFailed) as info:
        via_proxy.run_atomic_iter(many(250))
    assert MAYBE in str(info.value)
    assert len(rows_in_t(sqld)) == 250
