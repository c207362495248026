"""A throw-away user project (its own tasks.py and migrations/) driven by the real programs.

``invoke`` and ``libsql-migrate`` run in the test process by default (tests/support/
inprocess.py: the console script's own entry point, isolated as a child would be), which
saves starting Python for each of the suite's runs. A real process instead: every run of
a test marked ``@pytest.mark.real_processes`` (tests/conftest.py), of a
``Project(..., in_process=False)``, or ``project.invoke(..., in_process=False)``. That is
for what only a process shows (its start-up and sys.path, config files as a user's shell
meets them, a lease its ended run left behind) and for runs made from another thread.
``MIGRATE_TEST_SUBPROCESS=1`` makes every run a real process (but those that pass
``in_process=True``), to check that both ways give the same results.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from migrate_tasks.drivers import open_driver
from tests.support import inprocess

TASKS_PY = """\
from invoke import Collection

from migrate_tasks import migrate

ns = Collection(migrate)
"""

BIN = Path(sys.executable).parent
#: True while every run must be a real process (``MIGRATE_TEST_SUBPROCESS=1``: always).
_real_processes = [os.environ.get("MIGRATE_TEST_SUBPROCESS") == "1"]


@contextlib.contextmanager
def real_processes() -> Iterator[None]:
    """Every run in the block is a real process."""
    _real_processes.append(True)
    try:
        yield
    finally:
        _real_processes.pop()


@dataclass
class Run:
    args: list[str]
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


class Project:
    """A folder that looks like a user's repository, plus helpers to inspect its database."""

    def __init__(
        self, root: Path, url: str, token: str | None = None, *, in_process: bool = True
    ) -> None:
        self.root = root
        self.in_process = in_process
        self.url = url
        self.token = token
        self.migrations = root / "migrations"
        root.mkdir(parents=True, exist_ok=True)
        (root / "tasks.py").write_text(TASKS_PY)

    def env(self, **extra: str | None) -> dict[str, str]:
        """The process environment for a run; a value of None removes that variable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LIBSQL_", "MIGRAT"))}
        env.pop("DATABASE_URL", None)
        env["LIBSQL_URL"] = self.url
        if self.token:
            env["LIBSQL_AUTH_TOKEN"] = self.token
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def invoke(
        self,
        *args: str,
        timeout: float = 120,
        cwd: Path | None = None,
        in_process: bool | None = None,
        **env: str | None,
    ) -> Run:
        """``invoke migrate.<task> ...`` exactly as a user types it (in ``cwd``, default
        the project's root)."""
        return self._run([str(BIN / "invoke"), *args], timeout, env, cwd, in_process)

    def cli(
        self,
        *args: str,
        timeout: float = 120,
        cwd: Path | None = None,
        in_process: bool | None = None,
        **env: str | None,
    ) -> Run:
        """The ``libsql-migrate`` console script (no tasks.py needed)."""
        return self._run([str(BIN / "libsql-migrate"), *args], timeout, env, cwd, in_process)

    def _run(
        self,
        argv: list[str],
        timeout: float,
        env: dict[str, str | None],
        cwd: Path | None,
        in_process: bool | None,
    ) -> Run:
        environ = self.env(**env)
        # in_process=True on the call wins over the marker and the variable (tests of
        # the in-process runner itself)
        here = in_process or (self.in_process and in_process is None and not any(_real_processes))
        if here and inprocess.can_run_in_process(environ):
            code, out, err = inprocess.run(argv, environ, cwd or self.root, timeout)
            return Run(argv, code, out, err)
        proc = subprocess.run(
            argv,
            cwd=cwd or self.root,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Run(argv, proc.returncode, proc.stdout, proc.stderr)

    def write(self, filename: str, text: str) -> Path:
        self.migrations.mkdir(exist_ok=True)
        path = self.migrations / filename
        path.write_text(text)
        return path

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        driver = open_driver(self.url, self.token)
        try:
            return driver.query(sql, params)
        finally:
            driver.close()

    def schema(self) -> list[tuple]:
        """User objects only (not our tracking tables), in a stable order."""
        return self.query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'schema_migrations%'"
            " ORDER BY type, name"
        )

    def tracking(self) -> dict[str, str]:
        return dict(self.query("SELECT version, status FROM schema_migrations ORDER BY version"))

    def log(self) -> list[tuple]:
        return self.query(
            "SELECT version, action, outcome, error, duration_ms, started_at, finished_at"
            " FROM schema_migrations_log ORDER BY id"
        )


def write_tables(project: Project, count: int, start: int = 1) -> list[str]:
    """Migrations ``start`` .. ``start + count - 1``: each creates table ``t{n}`` and an
    index (its down drops the table); their versions."""
    versions = []
    for n in range(start, start + count):
        version = f"{20250101000000 + n}"
        project.write(
            f"{version}_t{n}.sql",
            f"-- migrate:up\nCREATE TABLE t{n} (id INTEGER PRIMARY KEY, name TEXT);\n"
            f"CREATE INDEX t{n}_name ON t{n} (name);\n"
            f"-- migrate:down\nDROP TABLE t{n};\n",
        )
        versions.append(version)
    return versions
