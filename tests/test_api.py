"""The Python API (docs/python-api.md): ``Migrator`` on every target, configuration as the
tasks resolve it, results instead of printing, errors from our tree, and several real
processes calling ``up()`` at once.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from migrate_tasks import CheckFailed, MigrationFailed, Migrator, Run, Status, UsageError
from migrate_tasks.api import Repair, Unlock
from migrate_tasks.errors import ConnectionFailed
from tests.support.together import clean_env, run_together

ROOT = Path(__file__).resolve().parent.parent

MIGRATIONS = {
    "20250101000001_users.sql": (
        "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n"
        "-- migrate:down\nDROP TABLE users;\n"
    ),
    "20250101000002_posts.sql": (
        "-- migrate:up\nCREATE TABLE posts (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id), title TEXT);\n"
        "CREATE INDEX posts_user ON posts (user_id);\n"
        "-- migrate:down\nDROP TABLE posts;\n"
    ),
    "20250101000003_email_lower.sql": (
        "-- migrate:up\nUPDATE users SET email = lower(email);\n-- migrate:down\nSELECT 1;\n"
    ),
}
VERSIONS = sorted(name.split("_")[0] for name in MIGRATIONS)


def write_migrations(folder: Path, files: dict[str, str] = MIGRATIONS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_migrations(tmp_path / "migrations")


def migrator_for(url: str, folder: Path, **kwargs: object) -> Migrator:
    """A Migrator that reads no configuration files of the machine running the tests."""
    return Migrator(url, folder, config={}, **kwargs)  # type: ignore[arg-type]


# -- on every target ---------------------------------------------------------------------


def test_status_up_down_and_results(db_url: str, folder: Path, capsys, caplog) -> None:
    caplog.set_level(logging.INFO, logger="migrate_tasks")
    with migrator_for(db_url, folder) as migrator:
        before = migrator.status()
        assert isinstance(before, Status)
        assert [r.state for r in before.migrations] == ["pending"] * 3
        assert [r.version for r in before.pending] == VERSIONS and not before.up_to_date

        first = migrator.up(step=1)
        assert isinstance(first, Run) and first.direction == "up"
        assert first.versions == VERSIONS[:1]
        [result] = first.results
        assert result.statements == 1 and result.duration_ms >= 0
        rest = migrator.up()
        assert rest.versions == VERSIONS[1:]
        assert rest.duration_ms == pytest.approx(sum(r.duration_ms for r in rest.results))
        assert migrator.up().versions == []  # nothing to apply

        after = migrator.status()
        assert [r.state for r in after.migrations] == ["applied"] * 3 and after.up_to_date
        assert all(r.applied_at for r in after.migrations)

        back = migrator.down(step=2)
        assert back.direction == "down" and back.versions == VERSIONS[:0:-1]
        states = [r.state for r in migrator.status().migrations]
        assert states == ["applied", "rolled_back", "rolled_back"]
        assert migrator.query("SELECT name FROM sqlite_master WHERE name = 'posts'") == []
    assert capsys.readouterr().out == ""  # nothing printed
    said = [r.getMessage() for r in caplog.records if r.name == "migrate_tasks"]
    assert any(
        line.startswith("database ") and "(from the url argument)" in line for line in said
    ), said


def test_dry_run_changes_nothing_and_says_what_it_would_send(db_url: str, folder: Path) -> None:
    with migrator_for(db_url, folder) as migrator:
        run = migrator.up(to=VERSIONS[1], dry_run=True)
        assert run.dry_run and run.results == [] and run.versions == VERSIONS[:2]
        sent = [step.sql for _, steps in run.calls or [] for step in steps]
        assert any("CREATE TABLE users" in sql for sql in sent)
        assert any("CREATE TABLE posts" in sql for sql in sent)
        assert not any("lower(email)" in sql for sql in sent)  # beyond --to
        assert [r.state for r in migrator.status().migrations] == ["pending"] * 3
        tables = migrator.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert tables == []


def test_a_failing_migration_raises_with_what_completed(
    db_url: str, folder: Path, tmp_path: Path
) -> None:
    (folder / "20250101000004_broken.sql").write_text(
        "-- migrate:up\nINSERT INTO users (email) VALUES ('a@b');\nINSERT INTO nowhere VALUES (1);\n"
    )
    with migrator_for(db_url, folder) as migrator:
        with pytest.raises(MigrationFailed) as failed:
            migrator.up()
        assert failed.value.version == "20250101000004" and failed.value.line == 3
        assert [r.version for r in failed.value.completed or []] == VERSIONS
        assert migrator.query("SELECT count(*) FROM users") == [(0,)]  # nothing of it left
        assert migrator.status().migrations[-1].state == "pending"


def test_validate_verify_and_dump(db_url: str, folder: Path, tmp_path: Path) -> None:
    with migrator_for(db_url, folder) as migrator:
        assert migrator.validate().ok
        proof = migrator.verify()
        assert proof.ok and [c.version for c in proof.migrations] == VERSIONS
        assert all(c.verified for c in proof.migrations)
        assert migrator.status().migrations[0].state == "pending"  # verify used a scratch db
        migrator.up()
        schema = tmp_path / "schema.sql"
        dumped = migrator.dump(schema)
        assert not dumped.up_to_date and schema.read_text() == dumped.text
        assert "CREATE TABLE posts" in dumped.text and VERSIONS[-1] in dumped.text
        assert migrator.dump(schema, check=True).up_to_date
        (folder / "20250101000001_users.sql").write_text(
            MIGRATIONS["20250101000001_users.sql"] + "\n-- edited\n"
        )
        found = migrator.validate()
        assert [(p.kind, p.version) for p in found.problems] == [("modified", VERSIONS[0])]
        with pytest.raises(CheckFailed, match="modified"):
            migrator.up()


def test_verify_reports_a_down_that_does_not_undo_its_up(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {"001_t.sql": "-- migrate:up\nCREATE TABLE t (a);\nCREATE TABLE u (b);\n"
         "-- migrate:down\nDROP TABLE t;\n"},
    )  # fmt: skip
    result = migrator_for(f"file:{tmp_path / 'unused.db'}", folder).verify()
    assert not result.ok and result.problems[0].kind == "down_mismatch"
    assert not (tmp_path / "unused.db").exists()


def test_lint_reads_what_is_pending_and_the_live_row_counts(db_url: str, folder: Path) -> None:
    """``lint`` from Python, as ``invoke migrate.lint``: the database's pending migrations,
    with its row counts feeding the data rules; given files are linted without it."""
    unique = folder / "20250101000004_unique_email.sql"
    unique.write_text(
        "-- migrate:up\nCREATE UNIQUE INDEX users_email ON users (email);\n"
        "-- migrate:down\nDROP INDEX users_email;\n"
    )
    with migrator_for(db_url, folder) as migrator:
        migrator.up(step=1)
        clean = migrator.lint()
        assert [m.version for m in clean.migrations] == [*VERSIONS[1:], "20250101000004"]
        assert clean.findings == [] and not clean.failed()
        assert (clean.target, clean.row_counts, clean.selection) == (
            migrator.target,
            True,
            "pending",
        )

        migrator.execute("INSERT INTO users (email) VALUES ('a@example.com')")
        [finding] = migrator.lint().findings
        assert finding.rule_id == "LS301" and "(1 rows on the live database)" in finding.message

        given = migrator.lint(files=[str(unique)])
        assert [m.version for m in given.migrations] == ["20250101000004"]
        assert (given.target, given.row_counts) == (None, False)  # the database was not read
        with pytest.raises(UsageError, match="say which migrations"):
            migrator.lint(read_database=False)


# -- after something went wrong, and adopting a database: the calls of api/maintenance.py --

NON_TX = (
    "-- migrate:up transaction:false\nCREATE TABLE nt_a (id INTEGER);\n"
    "INSERT INTO no_such_table VALUES (1);\nCREATE TABLE nt_c (id INTEGER);\n"
    "-- migrate:down transaction:false\nDROP TABLE nt_a;\n"
)


def test_repair_records_what_was_fixed_by_hand(db_url: str, folder: Path) -> None:
    """``repair`` from Python, as ``invoke migrate.repair``: the same checks and rows."""
    broken = folder / "20250101000004_nontx.sql"
    broken.write_text(NON_TX)
    with migrator_for(db_url, folder) as migrator:
        with pytest.raises(MigrationFailed):
            migrator.up()
        assert migrator.status().migrations[-1].state == "failed"
        with pytest.raises(UsageError, match="exactly one of applied and rolled_back"):
            migrator.repair("20250101000004")
        with pytest.raises(UsageError, match="migration 20250101000001 is applied"):
            migrator.repair(VERSIONS[0], rolled_back=True)  # nothing to repair

        dry = migrator.repair("20250101000004_nontx.sql", rolled_back=True, dry_run=True)
        assert isinstance(dry, Repair) and dry.version == "20250101000004"
        sent = [step.params for _, steps in dry.calls or [] for step in steps]
        assert any("rolled_back" in params for params in sent), sent
        assert migrator.status().migrations[-1].state == "failed"  # the dry run wrote nothing

        migrator.execute("DROP TABLE nt_a")  # the operator undoes it by hand
        done = migrator.repair("20250101000004", rolled_back=True)
        assert (done.state, done.calls, done.target) == ("rolled_back", None, migrator.target)
        assert migrator.status().migrations[-1].state == "rolled_back"
        broken.write_text(NON_TX.replace("INSERT INTO no_such_table VALUES (1);\n", ""))
        assert migrator.up().versions == ["20250101000004"]


def hold_lock(migrator: Migrator, *, expires_in: int) -> None:
    """Another run's lease, as a run on host build-7 that died would have left it."""
    migrator.execute(
        "INSERT OR REPLACE INTO schema_migrations_lock"
        ' (id, owner, "user", host, pid, acquired_at, expires_at)'
        " VALUES (1, 'other-run', 'alice', 'build-7', 4242, '2025-01-01T00:00:00Z',"
        " CAST(strftime('%s', 'now') AS INTEGER) + ?)",
        (expires_in,),
    )


def test_lock_holder_and_unlock(db_url: str, folder: Path) -> None:
    """Who holds the lock, and releasing it: ``unlock`` always asks (a live run's lock
    released is how migrations run twice), on any environment, unless ``yes``."""
    with migrator_for(db_url, folder) as migrator:
        assert migrator.lock_holder() is None  # no tracking tables yet
        none = migrator.unlock()
        assert none.holder is None and not none.released and none.calls is None
        migrator.up(step=1)
        assert migrator.lock_holder() is None  # up released its own
        hold_lock(migrator, expires_in=600)
        holder = migrator.lock_holder()
        assert holder is not None and (holder.host, holder.pid, holder.user) == (
            "build-7",
            4242,
            "alice",
        )
        assert not holder.expired and holder.describe().startswith("alice@build-7 (pid 4242)")

        with pytest.raises(UsageError, match="about to release the migration lock held by"):
            migrator.unlock()
        asked: list[str] = []
        with pytest.raises(UsageError, match="aborted"):
            migrator.unlock(confirm=lambda what: asked.append(what) or False)
        assert len(asked) == 1 and asked[0].startswith("release the migration lock held by")
        dry = migrator.unlock(dry_run=True)
        assert dry.holder == holder and not dry.released
        sent = [step.sql for _, steps in dry.calls or [] for step in steps]
        assert sent == ['DELETE FROM "schema_migrations_lock" WHERE id = 1']
        assert migrator.lock_holder() is not None  # still held: nothing was changed

        released = migrator.unlock(confirm=lambda what: True)
        assert isinstance(released, Unlock) and released.released
        assert released.holder is not None and released.holder.owner == "other-run"
        assert migrator.lock_holder() is None
        assert migrator.unlock(yes=True).holder is None
        assert migrator.up().versions == VERSIONS[1:]  # the lock is free for the next run


def test_adopt_dbmate_records_what_dbmate_applied(db_url: str, folder: Path) -> None:
    """A database with dbmate's table (one ``version`` column) and the schema of the first
    two migrations: adopting records those two as applied and drops dbmate's table."""
    with migrator_for(db_url, folder, table="app_migrations") as migrator:
        migrator.execute("CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY)")
        for version in VERSIONS[:2]:
            migrator.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
        migrator.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)")
        dry = migrator.adopt_dbmate(dry_run=True)
        assert [m.version for m in dry.recorded] == VERSIONS[:2] and dry.calls
        assert migrator.query("SELECT count(*) FROM schema_migrations") == [(2,)]

        adopted = migrator.adopt_dbmate()
        assert [m.version for m in adopted.recorded] == VERSIONS[:2] and adopted.calls is None
        assert [m.version for m in adopted.pending] == VERSIONS[2:]
        tables = {r[0] for r in migrator.query("SELECT name FROM sqlite_master")}
        assert "schema_migrations" not in tables
        states = [r.state for r in migrator.status().migrations]
        assert states == ["applied", "applied", "pending"]


# -- configuration: exactly as the tasks resolve it --------------------------------------


INVOKE_YAML = """\
migrate:
  dir: db/migrations
  table: app_migrations
  environments:
    staging:
      url: file:staging.db
      protected: true
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "app"
    write_migrations(root / "db" / "migrations")
    (root / "invoke.yaml").write_text(INVOKE_YAML)
    (root / "tasks.py").write_text(
        "from invoke import Collection\nfrom migrate_tasks import migrate\nns = Collection(migrate)\n"
    )
    for name in (
        "LIBSQL_URL",
        "DATABASE_URL",
        "LIBSQL_AUTH_TOKEN",
        "MIGRATIONS_DIR",
        "MIGRATE_ENV",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.invoke.yaml of this machine
    return root


def test_settings_come_from_invoke_yaml_env_and_variables(project: Path, monkeypatch) -> None:
    (project / "sub").mkdir()
    monkeypatch.setenv("INVOKE_MIGRATE_LOCK_TTL", "30")
    staging = Migrator(env="staging", cwd=project / "sub")  # invoke.yaml beside tasks.py
    settings = staging.settings
    # relative paths are relative to cwd, as for `libsql-migrate` run in project/sub
    assert settings.url == str(project / "sub" / "staging.db")
    assert settings.table == "app_migrations"
    assert settings.directory == project / "sub" / "db" / "migrations"
    assert settings.protected and settings.lock_ttl == 30
    assert settings.sources["url"] == "invoke config (environments.staging)"
    monkeypatch.setenv("LIBSQL_URL", "file:from-env.db")
    assert Migrator(env="staging", cwd=project).settings.url == str(project / "from-env.db")
    assert Migrator("/abs/flag.db", env="staging", cwd=project).settings.url == "/abs/flag.db"
    with pytest.raises(UsageError, match="unknown environment 'prod'"):
        Migrator(env="prod", cwd=project)
    other = project / "ci.yaml"  # libsql-migrate -f ci.yaml: read over the project's file
    other.write_text("migrate:\n  table: ci_migrations\n")
    assert Migrator(cwd=project, config_file=other).settings.table == "ci_migrations"
    monkeypatch.setenv("INVOKE_RUNTIME_CONFIG", str(other))
    assert Migrator(cwd=project).settings.table == "ci_migrations"


def test_the_api_and_the_task_see_the_same_database(project: Path) -> None:
    """``libsql-migrate up`` in the project, then the API's status agrees row for row."""
    env = clean_env(HOME=str(project.parent / "home"), MIGRATE_ENV="staging")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "libsql-migrate"), "up", "--step", "2"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    task_status = subprocess.run(
        [str(Path(sys.executable).parent / "libsql-migrate"), "status", "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    rows = json.loads(task_status.stdout)["migrations"]
    with Migrator(env="staging", cwd=project) as migrator:
        found = migrator.status()
    assert [(r.version, r.state) for r in found.migrations] == [
        (row["version"], row["state"]) for row in rows
    ]
    assert [r.state for r in found.migrations] == ["applied", "applied", "pending"]
    assert (project / "staging.db").exists()


def test_a_protected_environment_asks_before_down(project: Path) -> None:
    asked: list[str] = []
    with Migrator(env="staging", cwd=project) as migrator:
        migrator.up()
        with pytest.raises(UsageError, match="environment 'staging' is protected"):
            migrator.down()
        with pytest.raises(UsageError, match="aborted"):
            migrator.down(confirm=lambda what: asked.append(what) or False)
        assert asked == ["roll back 1 migration(s): 20250101000003_email_lower"]
        assert migrator.down(confirm=lambda what: True).versions == [VERSIONS[-1]]
        assert migrator.down(yes=True).versions == [VERSIONS[1]]


def test_a_bad_invoke_yaml_is_a_usage_error(project: Path) -> None:
    (project / "invoke.yaml").write_text("migrate: [unclosed\n")
    with pytest.raises(UsageError, match="cannot read the configuration files"):
        Migrator(cwd=project)


def test_a_missing_database_file_is_an_error_for_dump(tmp_path: Path, folder: Path) -> None:
    missing = tmp_path / "typo.db"
    with migrator_for(f"file:{missing}", folder) as migrator:
        assert migrator.status().migrations  # reads it as empty, without creating it
        with pytest.raises(ConnectionFailed):
            migrator.dump(tmp_path / "schema.sql")
    assert not missing.exists() and not (tmp_path / "schema.sql").exists()


# -- importing is cheap and configures nothing -------------------------------------------


def test_importing_the_api_loads_no_engine_and_configures_no_logging() -> None:
    code = textwrap.dedent(
        """
        import logging, sys
        from migrate_tasks import Migrator, Run, Status
        import migrate_tasks.api
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("invoke", "libsql",
                        "libsql_client", "aiohttp", "sqlalchemy")
                        or m.startswith(("migrate_tasks.engine", "migrate_tasks.drivers",
                                         "migrate_tasks.tasks", "migrate_tasks.report")))
        ours = logging.getLogger("migrate_tasks")
        print(loaded, logging.getLogger().handlers, ours.handlers, ours.level, ours.propagate)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[] [] [] 0 True"


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "migrate_tasks" / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'migrate_tasks = ["py.typed"]' in pyproject


# -- several processes calling up() at the same moment -----------------------------------

WORKERS = 4
CONCURRENT_UP = """\
import json
from migrate_tasks import Migrator
migrator = Migrator(sys.argv[1], sys.argv[2], config={}, lock_timeout=600)
wait_for_the_gate()
with migrator:
    run = migrator.up()
print(json.dumps(run.versions))
"""


def _long_migrations(folder: Path, count: int = 6, rows: int = 3000) -> list[str]:
    """Migrations that take a moment each, so that the runs overlap."""
    files = {}
    for i in range(1, count + 1):
        files[f"2025010100{i:04d}_t{i}.sql"] = (
            f"-- migrate:up\nCREATE TABLE t{i} (n INTEGER);\n"
            f"INSERT INTO t{i} WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c"
            f" WHERE n < {rows}) SELECT n FROM c;\n-- migrate:down\nDROP TABLE t{i};\n"
        )
    write_migrations(folder, files)
    return sorted(name.split("_")[0] for name in files)


def test_processes_calling_up_at_once_apply_each_migration_once(
    db_url: str, tmp_path: Path
) -> None:
    versions = _long_migrations(tmp_path / "migrations")
    finished = run_together(
        [CONCURRENT_UP] * WORKERS,
        tmp_path / "together",
        cwd=tmp_path,
        env=clean_env(),
        args=[[db_url, str(tmp_path / "migrations")]] * WORKERS,
    )
    for proc in finished:
        assert proc.code == 0, proc.describe()
        assert "Traceback" not in proc.err, proc.describe()
    claimed = [v for proc in finished for v in proc.json()]  # type: ignore[union-attr]
    assert sorted(claimed) == versions  # each once, by exactly one process
    with migrator_for(db_url, tmp_path / "migrations") as migrator:
        assert [r.state for r in migrator.status().migrations] == ["applied"] * len(versions)
        applied = migrator.query(
            "SELECT version, count(*) FROM schema_migrations_log"
            " WHERE action = 'up' AND outcome = 'applied' GROUP BY version ORDER BY version"
        )
        assert [tuple(row) for row in applied] == [(v, 1) for v in versions]
        for i in range(1, len(versions) + 1):
            assert migrator.query(f"SELECT count(*) FROM t{i}") == [(3000,)]


def test_up_json_refused_by_the_integrity_file_still_prints_its_document(tmp_path: Path) -> None:
    """docs/json.md: a run that stops on a refusal prints its one document; the integrity
    check now runs inside the API's up(), so --json covers it like any other refusal."""
    from tests.support.project import Project

    project = Project(tmp_path / "app", f"file:{tmp_path / 'app.db'}")
    write_migrations(project.migrations)
    assert project.invoke("migrate.hash").code == 0
    project.write("20250101000004_late.sql", "-- migrate:up\nSELECT 1;\n")
    up = project.invoke("migrate.up", "--json")
    assert up.code == 3, up.err
    document = up.json
    assert document["ok"] is False and document["migrations"] == []
    assert document["error"]["exit_code"] == 3
    assert document["error"]["message"].startswith("refusing to migrate up: migrations/")
    assert up.err.startswith("error: refusing to migrate up: migrations/20250101000004_late.sql")
    assert not (tmp_path / "app.db").exists()


def test_an_in_memory_database_lives_as_long_as_its_migrator(folder: Path) -> None:
    with migrator_for(":memory:", folder) as migrator:
        assert migrator.up().versions == VERSIONS
        assert migrator.status().up_to_date  # the same connection, the same database
        migrator.execute("INSERT INTO users (email) VALUES (?)", ["a@example.com"])
        assert migrator.query("SELECT email FROM users") == [("a@example.com",)]
    with migrator_for(":memory:", folder) as again:
        assert [r.state for r in again.status().migrations] == ["pending"] * 3


MODELS = """\
from sqlalchemy import Integer, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
"""


def test_check_models_and_generate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sqlalchemy")
    folder = write_migrations(
        tmp_path / "migrations",
        {"20250101000001_users.sql": MIGRATIONS["20250101000001_users.sql"]},
    )
    (tmp_path / "api_models_case.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    migrator = Migrator(
        "file:unused.db", folder, config={"models": "api_models_case:Base"}, cwd=tmp_path
    )
    assert migrator.models == "api_models_case:Base"
    differ = migrator.check_models()
    assert not differ.up_to_date
    assert [c.describe() for c in differ.changes] == [
        "+ column users.name TEXT NOT NULL DEFAULT ''"
    ]
    dry = migrator.generate("add_name", dry_run=True)
    assert dry.path is None and "ALTER TABLE" in dry.text and len(list(folder.iterdir())) == 1
    made = migrator.generate("add_name")
    assert made.path is not None and made.path.read_text() == made.text
    assert made.path.name.endswith("_add_name.sql") and made.later_file is None
    assert migrator.check_models().up_to_date
    assert migrator.generate("again").path is None  # nothing differs: nothing written
    assert not (tmp_path / "unused.db").exists()  # models are compared on scratch databases
