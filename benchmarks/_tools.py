"""Each migration tool: whether it is installed, what it can do, and its command lines.

Operations: ``up`` (apply everything pending; also the no-op ``up`` of W4), ``down``
(roll everything back) and ``status``. A database is a local file (``target == "file"``)
or a sqld URL (``target == "sqld"``, possibly through the counting proxy).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from _measure import Command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _workloads import (
    Migration,
    write_alembic,
    write_dbmate,
    write_drizzle,
    write_ours,
    write_sqlite_script,
    write_yoyo,
)

from tests.support import npm_tools

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
# Pinned, so that results stay comparable across commits.
NPM_PEERS = {
    "dbmate": npm_tools.DBMATE_VERSION,
    "drizzle-kit": "0.31.11",
    "drizzle-orm": "0.45.4",
    "@libsql/client": "0.18.0",
}
REQUIREMENTS = HERE / "requirements.txt"  # the Python peers, pinned
_SCRUB = ("LIBSQL_URL", "DATABASE_URL", "LIBSQL_AUTH_TOKEN", "MIGRATE_ENV", "MIGRATIONS_DIR")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["NO_COLOR"] = "1"
    return env


@dataclass(frozen=True)
class Db:
    target: str  # "file" or "sqld"
    path: Path | None = None  # the database file (file target)
    url: str | None = None  # http://127.0.0.1:PORT (sqld target)
    workdir: Path | None = None  # per-database scratch folder (configs)


class Tool:
    key = ""
    label = ""

    def unavailable(self) -> str | None:
        """None when it can run, else why not."""
        return None

    def version(self) -> str:
        return ""

    def supports(self, op: str, target: str) -> str | None:
        """None if this tool can do ``op`` on ``target``, else a short reason."""
        return None

    def note(self, op: str, target: str, count: int) -> str:
        """A remark printed next to this tool's numbers."""
        return ""

    def prepare(self, project: Path, migrations: list[Migration]) -> None:
        raise NotImplementedError

    def command(self, op: str, project: Path, db: Db, count: int) -> Command:
        raise NotImplementedError


def _venv_bin(name: str) -> Path:
    return Path(sys.executable).parent / name


def _url(db: Db) -> str:
    return f"file:{db.path}" if db.target == "file" else str(db.url)


class Ours(Tool):
    key, label = "ours", "libsql-migrate"

    def __init__(self, single_transaction: bool = False) -> None:
        self.single = single_transaction
        if single_transaction:
            self.key, self.label = "ours-1tx", "libsql-migrate --single-transaction"

    @property
    def cli(self) -> Path:
        return _venv_bin("libsql-migrate")

    def unavailable(self) -> str | None:
        if not self.cli.exists():
            return f"{self.cli} not found (pip install -e .)"
        if self.single and not has_single_transaction():
            return "n/a (flag missing): `libsql-migrate up --help` has no --single-transaction"
        return None

    def version(self) -> str:
        return _git_commit()

    def supports(self, op: str, target: str) -> str | None:
        if self.single and op != "up":
            return "the flag is for up"
        return None

    def note(self, op: str, target: str, count: int) -> str:
        return "all pending migrations in one transaction" if self.single else ""

    def prepare(self, project: Path, migrations: list[Migration]) -> None:
        write_ours(project / "migrations", migrations)

    def command(self, op: str, project: Path, db: Db, count: int) -> Command:
        cli = str(self.cli)
        common = ["--url", _url(db), "--dir", str(project / "migrations")]
        argv = {
            "up": [cli, "up", *common, *(["--single-transaction"] if self.single else [])],
            "down": [cli, "down", "--all", "--yes", *common],
            "status": [cli, "status", *common],
        }[op]
        return Command(argv, project, clean_env())


class OursBefore(Ours):
    """Another installation's ``libsql-migrate`` (``run.py --before PATH``), e.g. the code
    before a change, run next to ours in the same repetitions: "faster than before" is
    then a pair-by-pair ratio, not a comparison with a number from a quieter day."""

    key, label = "ours-before", "libsql-migrate (before)"

    def __init__(self, cli: str | None) -> None:
        super().__init__()
        self._cli = Path(cli) if cli else None

    @property
    def cli(self) -> Path:
        return self._cli or Path("libsql-migrate-before")

    def unavailable(self) -> str | None:
        if self._cli is None:
            return "not asked for (run.py --before PATH)"
        return None if self._cli.exists() else f"{self._cli} not found"

    def version(self) -> str:
        return str(self._cli)


@functools.cache
def has_single_transaction() -> bool:
    cli = _venv_bin("libsql-migrate")
    done = subprocess.run(
        [str(cli), "up", "--help"], capture_output=True, text=True, env=clean_env(), check=False
    )
    return "--single-transaction" in done.stdout


@functools.cache
def _git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "migrate_tasks"],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


class Dbmate(Tool):
    key, label = "dbmate", "dbmate"

    def binary(self) -> Path | None:
        return npm_tools.dbmate_binary(PEERS)

    def unavailable(self) -> str | None:
        return node_missing() or (None if self.binary() else "npm package dbmate not installed")

    def version(self) -> str:
        return _npm_version("dbmate")

    def supports(self, op: str, target: str) -> str | None:
        return "no libSQL server driver" if target != "file" else None

    def note(self, op: str, target: str, count: int) -> str:
        if op == "down" and count > 1:
            return f"{count} `dbmate rollback` calls (it has no roll-back-all)"
        return ""

    def prepare(self, project: Path, migrations: list[Migration]) -> None:
        write_dbmate(project / "migrations", migrations)

    def command(self, op: str, project: Path, db: Db, count: int) -> Command:
        base = [str(self.binary()), "--url", f"sqlite:{db.path}"]
        base += ["--migrations-dir", str(project / "migrations"), "--no-dump-schema"]
        if op == "down":  # dbmate rolls back one migration per call
            loop = f'for i in $(seq {count}); do "$@" rollback >/dev/null || exit 1; done'
            return Command(["sh", "-c", loop, "sh", *base], project, clean_env())
        return Command([*base, op], project, clean_env())


class DrizzleKit(Tool):
    key, label = "drizzle", "drizzle-kit"

    def script(self) -> Path:
        return PEERS / "node_modules" / "drizzle-kit" / "bin.cjs"

    def unavailable(self) -> str | None:
        if node_missing():
            return node_missing()
        return None if self.script().exists() else "npm package drizzle-kit not installed"

    def version(self) -> str:
        return f"{_npm_version('drizzle-kit')} (@libsql/client {_npm_version('@libsql/client')})"

    def supports(self, op: str, target: str) -> str | None:
        return {"down": "no down command", "status": "no status command"}.get(op)

    def note(self, op: str, target: str, count: int) -> str:
        return "all pending migrations in one batch (one transaction)" if count > 1 else ""

    def prepare(self, project: Path, migrations: list[Migration]) -> None:
        write_drizzle(project / "drizzle", migrations)

    def command(self, op: str, project: Path, db: Db, count: int) -> Command:
        assert db.workdir is not None
        config = db.workdir / "drizzle.config.js"
        if db.target == "file":
            creds = {"dialect": "sqlite", "dbCredentials": {"url": f"file:{db.path}"}}
        else:
            creds = {"dialect": "turso", "dbCredentials": {"url": db.url}}
        doc = {**creds, "out": str(project / "drizzle")}
        config.write_text(f"module.exports = {json.dumps(doc)};\n")
        argv = [
            shutil.which("node") or "node",
            str(self.script()),
            "migrate",
            "--config",
            str(config),
        ]
        env = clean_env()
        env["NODE_PATH"] = str(PEERS / "node_modules")
        return Command(argv, project, env)


class Alembic(Tool):
    key, label = "alembic", "Alembic"

    def unavailable(self) -> str | None:
        if not _venv_bin("alembic").exists():
            return f"not installed (pip install -r {REQUIREMENTS})"
        return None

    def version(self) -> str:
        return _pip_versions("alembic", "sqlalchemy", "sqlalchemy-libsql", "libsql-experimental")

    def note(self, op: str, target: str, count: int) -> str:
        return "pysqlite driver" if target == "file" else "sqlalchemy-libsql driver"

    def prepare(self, project: Path, migrations: list[Migration]) -> None:
        project.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(_venv_bin("alembic")), "init", "-t", "generic", "alembic"],
            cwd=project,
            check=True,
            capture_output=True,
        )
        write_alembic(project / "alembic" / "versions", migrations)

    def command(self, op: str, project: Path, db: Db, count: int) -> Command:
        assert db.workdir is not None
        if db.target == "file":
            url = f"sqlite:///{db.path}"  # pysqlite, what Alembic users run on a file
        else:
            url = "sqlite+libsql://" + str(db.url).split("//", 1)[1] + "?secure=false"
        ini = (project / "alembic.ini").read_text()
        lines = []
        for line in ini.splitlines():
            if line.startswith("sqlalchemy.url"):
                line = f"sqlalchemy.url = {url}"
            elif line.startswith("script_location"):
                line = f"script_location = {project / 'alembic'}"
            lines.append(line)
        config = db.workdir / "alembic.ini"
        config.write_text("\n".join(lines) + "\n")
        args = {"up": ["upgrade", "head"], "down": ["downgrade", "base"], "status": ["current"]}
        argv = [str(_venv_bin("alembic")), "-c", str(config), *args[op]]
        return Command(argv, project, clean_env())


class Yoyo(Tool):
    key, label = "yoyo", "yoyo-migrations"

    def unavailable(self) -> str | None:
        if not _venv_bin("yoyo").exists():
            return f"not installed (pip install -r {REQUIREMENTS})"
        return None

    def version(self) -> str:
        return _pip_versions("yoyo-migrations")

    def supports(self, op: str, target: str) -> str | None:
        return "no libSQL server backend" if target != "file" else None

    def prepare(self, project: Path, migrations: list[Migration]) -> None:
        write_yoyo(project / "migrations", migrations)

    def command(self, op: str, project: Path, db: Db, count: int) -> Command:
        args = {"up": ["apply"], "down": ["rollback", "--all"], "status": ["list"]}[op]
        argv = [str(_venv_bin("yoyo")), *args]
        if op != "status":
            argv.append("--batch")
        argv += ["--no-config-file", "--database", f"sqlite:///{db.path}"]
        argv.append(str(project / "migrations"))
        return Command(argv, project, clean_env())


class Sqlite3Shell(Tool):
    key, label = "sqlite3", "sqlite3 shell (1 tx)"

    def unavailable(self) -> str | None:
        return None if shutil.which("sqlite3") else "sqlite3 command-line shell not found"

    def version(self) -> str:
        done = subprocess.run(["sqlite3", "-version"], capture_output=True, text=True, check=False)
        return " ".join(done.stdout.split()[:1])

    def supports(self, op: str, target: str) -> str | None:
        if target != "file":
            return "local files only"
        return None if op == "up" else "no migration tracking"

    def note(self, op: str, target: str, count: int) -> str:
        return "floor: the up sections in one transaction, no tracking"

    def prepare(self, project: Path, migrations: list[Migration]) -> None:
        write_sqlite_script(project / "all.sql", migrations)

    def command(self, op: str, project: Path, db: Db, count: int) -> Command:
        return Command(
            [shutil.which("sqlite3") or "sqlite3", str(db.path)],
            project,
            clean_env(),
            project / "all.sql",
        )


def all_tools(before: str | None = None) -> list[Tool]:
    return [
        Ours(),
        Ours(single_transaction=True),
        OursBefore(before),
        Dbmate(),
        DrizzleKit(),
        Alembic(),
        Yoyo(),
        Sqlite3Shell(),
    ]


# -- installation and versions ----------------------------------------------------------


def node_missing() -> str | None:
    return npm_tools.node_missing()


def install_node_peers(log) -> str | None:
    """``npm install`` the pinned npm peers into benchmarks/.peers; None, or why not."""
    return npm_tools.install(PEERS, NPM_PEERS, log)


def _npm_version(name: str) -> str:
    return npm_tools.npm_version(PEERS, name)


def _pip_versions(*names: str) -> str:
    from importlib import metadata

    parts = []
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} ?")
    return ", ".join(parts)
