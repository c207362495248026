"""A sqld with namespaces on and an admin port, and helpers to create and query namespaces.

Namespaces are reached the way the fleet reaches them: the data-plane address plus a
``Host: <ns>.127.0.0.1:PORT`` header (``<ns>.localhost`` does not resolve here, and
``http://127.0.0.1:PORT`` alone would mean namespace ``127``). ``fresh_database`` gives a
test a namespace as URLs the tool takes, ``http://<ns>.localhost:PORT`` and
``ws://<ns>.localhost:PORT``: both drivers reach ``*.localhost`` names without a resolver.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.drivers.base import Step
from migrate_tasks.drivers.http import HranaHttpDriver
from migrate_tasks.fleet.admin import namespace_host
from tests.support.sqld import SqldServer, SqldUnavailable, free_port


@dataclass(frozen=True)
class SqldDatabase:
    """One namespace of a shared sqld, as a test's database."""

    namespace: str
    port: int

    @property
    def http_url(self) -> str:
        return f"http://{self.namespace}.localhost:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.namespace}.localhost:{self.port}"


class NamespacedSqld:
    """``sqld --enable-namespaces --admin-listen-addr 127.0.0.1:ADMIN`` on free ports."""

    def __init__(self, binary: Path, workdir: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.workdir = workdir
        self.extra_args = extra_args
        self.admin_port = 0
        self.server: SqldServer | None = None

    @property
    def http_url(self) -> str:
        assert self.server is not None
        return self.server.http_url

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def __enter__(self) -> NamespacedSqld:
        error: Exception | None = None
        for _ in range(3):  # the admin port is chosen before sqld binds it: retry on a clash
            self.admin_port = free_port()
            args = ["--enable-namespaces", "--admin-listen-addr", self.admin_url[7:]]
            self.server = SqldServer(self.binary, self.workdir, [*args, *self.extra_args])
            self.workdir.mkdir(parents=True, exist_ok=True)
            try:
                self.server.start()
                return self
            except SqldUnavailable as exc:
                error = exc
        raise SqldUnavailable(f"namespaced sqld did not start: {error}")

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()

    def admin(self, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, payload, headers)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def create(self, namespace: str, **config: object) -> None:
        status, text = self.admin("POST", f"/v1/namespaces/{namespace}/create", dict(config))
        assert status == 200, f"create {namespace}: {status} {text}"

    def fresh_database(self, namespace: str) -> SqldDatabase:
        """A new namespace, checked empty (no table, index, trigger or view at all)."""
        self.create(namespace)
        objects = self.query(namespace, "SELECT type, name FROM sqlite_master")
        assert objects == [], f"namespace {namespace} is not empty: {objects}"
        assert self.server is not None
        return SqldDatabase(namespace, self.server.port)

    def delete(self, namespace: str) -> None:
        status, text = self.admin("DELETE", f"/v1/namespaces/{namespace}")
        assert status == 200, f"delete {namespace}: {status} {text}"

    def driver(self, namespace: str) -> HranaHttpDriver:
        return HranaHttpDriver(
            self.http_url, host_header=namespace_host(self.http_url, namespace), timeout=10
        )

    def query(self, namespace: str, sql: str, params: tuple = ()) -> list[tuple]:
        with self.driver(namespace) as driver:
            return driver.query(sql, params)

    def execute(self, namespace: str, sql: str) -> None:
        with self.driver(namespace) as driver:
            driver.run_atomic([Step(sql)])
