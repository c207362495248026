"""The start-up recipes (docs/startup.md): an ASGI application that migrates in its
lifespan hook, and a container entrypoint that migrates then execs the application.

Four real worker processes start together (released by one gate, tests/support/together.py)
on one database, as an ASGI server's ``--workers 4`` or four replicas of a container
would: each migration is applied exactly once, every worker starts, and a failing
migration stops every worker before it serves, leaving nothing of that migration.
"""

from __future__ import annotations

import sys
from pathlib import Path

from migrate_tasks import Migrator
from tests.support.together import clean_env, run_together

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "startup"
WORKERS = 4

#: What an ASGI server does with the app in each worker: the lifespan start-up, then one
#: request, then the shutdown. Prints one JSON line.
ASGI_WORKER = """\
import asyncio, json, runpy
app = runpy.run_path(sys.argv[1])["app"]

async def serve():
    inbox, said = asyncio.Queue(), asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, said.put))
    started = await said.get()
    if started["type"] != "lifespan.startup.complete":
        return {"startup": started["type"], "message": started.get("message", "")}
    parts = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        parts.append(message)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    await app(scope, receive, send)
    await inbox.put({"type": "lifespan.shutdown"})
    await life
    return {"startup": "complete", "status": parts[0]["status"], "body": json.loads(parts[1]["body"])}

wait_for_the_gate()
print(json.dumps(asyncio.run(serve())))
"""

ENTRYPOINT_WORKER = """\
import runpy
sys.argv = [sys.argv[1], *sys.argv[2:]]
wait_for_the_gate()
runpy.run_path(sys.argv[0], run_name="__main__")
"""

APP_COMMAND = [sys.executable, "-c", "import os; print('app started', os.getpid())"]


def _migrations(folder: Path) -> list[str]:
    folder.mkdir(parents=True)
    versions = []
    for i in range(1, 6):
        version = f"2025020100{i:04d}"
        versions.append(version)
        (folder / f"{version}_step{i}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE s{i} (n INTEGER);\n"
            f"INSERT INTO s{i} WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1"
            f" FROM c WHERE n < 2000) SELECT n FROM c;\n-- migrate:down\nDROP TABLE s{i};\n"
        )
    return versions


def _env(db_url: str, folder: Path) -> dict[str, str]:
    # a worker waits as long as it takes for the lock: a timeout would test the machine
    return clean_env(
        LIBSQL_URL=db_url, MIGRATIONS_DIR=str(folder), INVOKE_MIGRATE_LOCK_TIMEOUT="600"
    )


def _applied_once(db_url: str, folder: Path, versions: list[str]) -> None:
    with Migrator(db_url, folder, config={}) as migrator:
        assert migrator.status().up_to_date
        rows = migrator.query(
            "SELECT version, count(*) FROM schema_migrations_log"
            " WHERE action = 'up' AND outcome = 'applied' GROUP BY version ORDER BY version"
        )
        assert [tuple(r) for r in rows] == [(v, 1) for v in versions]


def test_asgi_workers_starting_together_migrate_once(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    versions = _migrations(folder)
    finished = run_together(
        [ASGI_WORKER] * WORKERS,
        tmp_path / "gate",
        cwd=tmp_path,
        env=_env(db_url, folder),
        args=[[str(EXAMPLES / "app.py")]] * WORKERS,
    )
    answers = []
    for proc in finished:
        assert proc.code == 0, proc.describe()
        answer = proc.json()
        assert isinstance(answer, dict) and answer["startup"] == "complete", proc.describe()
        assert answer["status"] == 200
        answers.append(answer["body"]["applied_at_startup"])
    assert sorted(v for applied in answers for v in applied) == versions
    _applied_once(db_url, folder, versions)


def test_an_asgi_start_up_with_a_failing_migration_does_not_serve(
    db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    versions = _migrations(folder)
    (folder / "20250201009999_broken.sql").write_text(
        "-- migrate:up\nCREATE TABLE half (a);\nINSERT INTO missing VALUES (1);\n"
    )
    finished = run_together(
        [ASGI_WORKER] * 2,
        tmp_path / "gate",
        cwd=tmp_path,
        env=_env(db_url, folder),
        args=[[str(EXAMPLES / "app.py")]] * 2,
    )
    for proc in finished:
        answer = proc.json()
        assert isinstance(answer, dict), proc.describe()
        assert answer["startup"] == "lifespan.startup.failed", proc.describe()
        assert "migration 20250201009999 (up) failed at" in answer["message"]
        assert "_broken.sql:3" in answer["message"] and "missing" in answer["message"]
    with Migrator(db_url, folder, config={}) as migrator:
        assert [r.state for r in migrator.status().migrations] == ["applied"] * 5 + ["pending"]
        assert migrator.query("SELECT name FROM sqlite_master WHERE name = 'half'") == []
    assert len(versions) == 5


def test_container_entrypoints_starting_together_migrate_once_then_exec(
    db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    versions = _migrations(folder)
    finished = run_together(
        [ENTRYPOINT_WORKER] * WORKERS,
        tmp_path / "gate",
        cwd=tmp_path,
        env=_env(db_url, folder),
        args=[[str(EXAMPLES / "entrypoint.py"), *APP_COMMAND]] * WORKERS,
    )
    for proc in finished:
        assert proc.code == 0, proc.describe()
        assert proc.out.startswith("app started "), proc.describe()
        assert "Traceback" not in proc.err
    logged = "".join(proc.err for proc in finished)
    for version in versions:  # each applied by exactly one of them, which logged it
        assert logged.count(f"applied {version}_") == 1, logged
    _applied_once(db_url, folder, versions)


def test_a_failing_entrypoint_never_starts_the_application(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    _migrations(folder)
    (folder / "20250201009999_broken.sql").write_text("-- migrate:up\nSELEC 1;\n")
    url = f"file:{tmp_path / 'app.db'}"
    [proc] = run_together(
        [ENTRYPOINT_WORKER],
        tmp_path / "gate",
        cwd=tmp_path,
        env=_env(url, folder),
        args=[[str(EXAMPLES / "entrypoint.py"), *APP_COMMAND]],
    )
    assert proc.code == 1, proc.describe()
    assert "app started" not in proc.out and "Traceback" not in proc.err
    assert "migrate: error: migration 20250201009999 (up) failed at" in proc.err
    assert "_broken.sql:2" in proc.err and "SELEC" in proc.err
    with Migrator(url, folder, config={}) as migrator:  # the five before it are applied
        assert [r.state for r in migrator.status().migrations] == ["applied"] * 5 + ["pending"]


def test_the_docs_show_the_tested_entrypoint_as_it_is() -> None:
    page = (ROOT / "docs" / "startup.md").read_text(encoding="utf-8")
    assert (EXAMPLES / "entrypoint.py").read_text(encoding="utf-8") in page
