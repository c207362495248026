"""``migrate.retire-alembic``: back up and remove Alembic's files once the migrations and the
baseline replace them, then list what still points at Alembic.

The project is the example blog (examples/blog) copied into a temporary git work tree,
with the files a team has around Alembic (a Makefile, CI, requirements, a deploy script,
a module that runs Alembic, docs). Its database is one Alembic built, adopted with the
real ``import-alembic`` and ``baseline``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from migrate_tasks.from_alembic.references import find_references
from tests.support.alembic_blog import (
    BLOG,
    BLOG_HEAD,
    BLOG_HEAD_VERSION,
    alembic_sqlite,
    write_alembic_project,
)
from tests.support.project import Project, Run

#: Files a team keeps around Alembic, and the references each holds: (line, kind).
AROUND = {
    "Makefile": ("migrate:\n\talembic -c alembic.ini upgrade head\n", [(2, "command")]),
    ".github/workflows/ci.yml": (
        "jobs:\n  test:\n    steps:\n      - run: pip install -r requirements.txt\n"
        "      - run: python -m alembic upgrade head\n",
        [(5, "command")],
    ),
    "requirements.txt": ("sqlalchemy>=2\nalembic>=1.13\nmigrate_tasks\n", [(2, "mention")]),
    "scripts/deploy.sh": (
        "#!/bin/sh\nset -e\n# the schema first\nalembic upgrade head\nexec gunicorn blog.app\n",
        [(4, "command")],
    ),
    "blog/db_setup.py": (
        '"""Alembic used to build the schema."""\n\nimport subprocess\n\n'
        "from alembic import command\n\n\ndef upgrade():\n"
        '    subprocess.run(["alembic", "upgrade", "head"], check=True)\n',
        [(5, "import"), (9, "command")],
    ),
    "docs/deploy.md": (
        "# Deploying\n\nWe moved off Alembic in 2024.\n\n"
        "Run `alembic upgrade head`, then start the app.\n"
        "Revisions live in `alembic/versions/`.\n",
        [(5, "command"), (6, "folder")],
    ),
    "tox.ini": ("[testenv]\ndeps = alembic\ncommands = pytest\n", [(2, "mention")]),
    "Dockerfile": ("FROM python:3.12-slim\nCOPY alembic.ini /app/\n", [(2, "config")]),
}
#: Lines that name Alembic without depending on it: never references.
HARMLESS = {
    "CHANGELOG.md": "* Bump alembic from 1.13 to 1.14\n* Moved off Alembic (retire-alembic)\n",
    "notes/db.py": "# Alembic built the first schema; see import-alembic\nTABLE = 'alembic_version'\n",
    "scripts/retire.sh": "invoke migrate.retire-alembic --backup ../old\n",
}


def blog_project(tmp_path: Path, *, database: bool = True) -> Project:
    """The blog in a git work tree, with its history imported (and, with ``database``,
    a database Alembic built and ``baseline`` adopted)."""
    root = tmp_path / "blog"
    shutil.copytree(BLOG, root, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    (root / ".git").mkdir()  # the work tree's top: where CI files are looked for
    for name, (text, _) in {**AROUND, **{k: (v, []) for k, v in HARMLESS.items()}}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    project = Project(root, f"file:{root / 'blog.db'}")
    run = project.invoke("migrate.import-alembic")
    assert run.code == 0, run.err
    if database:
        alembic_sqlite(root / "alembic.ini", root / "blog.db", "upgrade:head")
        run = project.invoke("migrate.baseline", BLOG_HEAD_VERSION)
        assert run.code == 0, run.err
    return project


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root: its sha256 and modification time."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[path.relative_to(root).as_posix()] = (digest, path.stat().st_mtime_ns)
    return found


def alembic_files(root: Path) -> dict[str, tuple[str, int]]:
    return {
        k: v
        for k, v in snapshot(root).items()
        if (k == "alembic.ini" or k.startswith("alembic/")) and "__pycache__" not in k
    }


def age(root: Path) -> None:
    """Give Alembic's files distinct old times, so a copy that loses them shows."""
    for index, path in enumerate(sorted((root / "alembic").rglob("*"))):
        when = 1_600_000_000 + index * 3601
        os.utime(path, ns=(when * 10**9 + 123, when * 10**9 + 456_789))
    os.utime(root / "alembic.ini", ns=(1_500_000_000_000_000_001, 1_500_000_000_000_000_001))


def listed(run: Run) -> set[tuple[str, int, str]]:
    """(file, line, kind) of each reference the run printed."""
    found = set()
    for line in run.out.splitlines():
        if line.startswith("  ") and line.count(":") >= 2:
            path, number, rest = line.strip().split(":", 2)
            if number.isdigit():
                found.add((path, int(number), rest.strip().split(":")[0]))
    return found


def expected_references() -> set[tuple[str, int, str]]:
    found = {(name, line, kind) for name, (_, refs) in AROUND.items() for line, kind in refs}
    # the example's models point at the history in a docstring: a stale pointer too
    models = (BLOG / "blog" / "models.py").read_text().splitlines()
    found |= {("blog/models.py", n, "folder") for n, t in enumerate(models, 1) if "alembic/" in t}
    return found


def test_retire_backs_up_removes_and_lists_every_reference(tmp_path):
    project = blog_project(tmp_path)
    root = project.root
    age(root)
    (root / "alembic" / "__pycache__").mkdir()
    (root / "alembic" / "__pycache__" / "env.cpython-311.pyc").write_bytes(b"\0cache")
    originals = alembic_files(root)
    before = snapshot(root)

    dry = project.invoke("migrate.retire-alembic", "--backup", "../backup", "--dry-run")
    assert dry.code == 3, dry.out + dry.err
    assert snapshot(root) == before and not (tmp_path / "backup").exists()  # nothing changed
    assert f"imported from Alembic revision {BLOG_HEAD}" in dry.out
    assert f"records {BLOG_HEAD_VERSION} as applied" in dry.out
    for name in originals:
        assert f"\n  {name}\n" in dry.out  # every file it would back up is shown
    assert listed(dry) == expected_references()

    run = project.invoke("migrate.retire-alembic", "--backup", "../backup")
    assert run.code == 3, run.out + run.err
    assert listed(run) == expected_references()
    assert f"error: {len(expected_references())} reference(s) to Alembic remain" in run.err
    assert not (root / "alembic").exists() and not (root / "alembic.ini").exists()
    backup = tmp_path / "backup"
    copies = {k.removeprefix("files/"): v for k, v in snapshot(backup).items()}
    assert {k: copies[k] for k in originals} == originals  # bytes and times kept
    assert set(copies) == {*originals, "SHA256SUMS", "README.md"}  # no bytecode cache
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=backup, capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stdout.count(": OK") == len(originals), check.stdout
    readme = (backup / "README.md").read_text()
    assert "invoke migrate.retire-alembic --config alembic.ini --backup ../backup" in readme
    assert f"head {BLOG_HEAD}" in readme and f"{BLOG_HEAD_VERSION}_initial_schema.sql" in readme
    assert "cp -pR ../backup/files/alembic ../backup/files/alembic.ini ." in readme
    # what stays: the migrations, the database's history, every other file byte for byte
    others = {k: v for k, v in before.items() if k not in originals and "__pycache__" not in k}
    assert {k: v for k, v in snapshot(root).items() if k in others} == others
    assert project.invoke("migrate.status", "--check").code == 0

    for name in [*AROUND, "blog/models.py"]:  # the team edits every reference away
        lines = (root / name).read_text().splitlines()
        (root / name).write_text("".join(f"{t}\n" for t in lines if "alembic" not in t.lower()))
    shutil.copytree(backup, root / "old-alembic")  # a backup kept in the project is no reference
    again = project.invoke("migrate.retire-alembic")
    assert again.code == 0, again.out + again.err
    assert "nothing to back up or remove" in again.out
    assert "no reference to Alembic remains" in again.out


def test_the_restore_command_in_the_readme_puts_everything_back(tmp_path):
    project = blog_project(tmp_path, database=False)
    age(project.root)
    originals = alembic_files(project.root)
    assert project.cli("retire-alembic", "--backup", "../backup", LIBSQL_URL=None).code == 3
    readme = (tmp_path / "backup" / "README.md").read_text()
    [restore] = [line.strip() for line in readme.splitlines() if line.strip().startswith("cp ")]
    subprocess.run(restore, shell=True, cwd=project.root, check=True)
    assert alembic_files(project.root) == originals


def test_nothing_changes_until_the_conversion_is_in_place(tmp_path):
    project = blog_project(tmp_path, database=False)
    root = project.root
    alembic_sqlite(root / "alembic.ini", root / "blog.db", "upgrade:head")
    before = snapshot(root)
    # a database Alembic built, not adopted yet
    run = project.invoke("migrate.retire-alembic", "--backup", "../backup")
    assert run.code == 3, run.out + run.err
    assert "Alembic cannot be retired yet; nothing was changed" in run.err
    assert f"invoke migrate.baseline {BLOG_HEAD_VERSION} --drop-alembic-version" in run.err
    # a fresh database the migrations were never applied to
    fresh = project.invoke(
        "migrate.retire-alembic", "--backup", "../backup", "--url", "file:new.db"
    )
    assert fresh.code == 5 and "does not exist" in fresh.err  # a typo is not a database
    # a revision added to Alembic after the import
    newer = root / "alembic" / "versions" / "b0b0b0b0b0b0_add_likes.py"
    newer.write_text(
        f'revision = "b0b0b0b0b0b0"\ndown_revision = "{BLOG_HEAD}"\n\n\ndef upgrade():\n    pass\n'
    )
    before[newer.relative_to(root).as_posix()] = snapshot(root)["alembic/versions/" + newer.name]
    run = project.invoke("migrate.retire-alembic", "--backup", "../backup", LIBSQL_URL=None)
    assert run.code == 3
    assert (
        "the Alembic head is b0b0b0b0b0b0 (alembic/versions/b0b0b0b0b0b0_add_likes.py)" in run.err
    )
    # no migrations at all
    for path in project.migrations.glob("*.sql"):
        shutil.move(path, tmp_path / path.name)
        del before[f"migrations/{path.name}"]
    run = project.invoke("migrate.retire-alembic", "--backup", "../backup", LIBSQL_URL=None)
    assert run.code == 3 and "has no migrations: convert the Alembic history first" in run.err
    assert snapshot(root) == before and not (tmp_path / "backup").exists()


def test_force_retires_a_project_whose_first_migration_was_written_another_way(tmp_path):
    project = Project(tmp_path / "app", "file:app.db")
    write_alembic_project(project.root, [("r1", None, "users", "op.execute('SELECT 1')", "")])
    project.write("20240101000000_initial.sql", "-- migrate:up\nCREATE TABLE users (id);\n")
    refused = project.invoke("migrate.retire-alembic", "--backup", "old", LIBSQL_URL=None)
    assert refused.code == 3 and "no migration in migrations says it was imported" in refused.err
    run = project.invoke("migrate.retire-alembic", "--backup", "old", "--force", LIBSQL_URL=None)
    assert run.code == 0, run.out + run.err
    assert "--force: retiring despite: no migration in migrations" in run.err
    assert not (project.root / "alembic").exists()
    assert (project.root / "old" / "files" / "alembic" / "versions" / "r1_0.py").is_file()


@pytest.mark.parametrize(
    ("backup", "message"),
    [
        ("", "pass --backup DIR"),
        ("alembic/old", "is inside alembic/, which is being removed"),
        ("migrations/old", "is inside the migrations folder"),
        ("taken", "already exists and is not an empty folder"),
    ],
)
def test_a_backup_folder_that_cannot_be_used_changes_nothing(tmp_path, backup, message):
    project = Project(tmp_path / "app", "file:app.db")
    write_alembic_project(project.root, [("r1", None, "users", "", "")])
    project.write("20240101000000_initial.sql", "-- migrate:up\nSELECT 1;\n")
    (project.root / "taken").mkdir()
    (project.root / "taken" / "mine.txt").write_text("keep")
    before = snapshot(project.root)
    run = project.invoke("migrate.retire-alembic", *(["--backup", backup] if backup else []))
    assert run.code == 2 and message in run.err, run.err
    assert snapshot(project.root) == before


def test_flask_migrate_layout_keeps_our_migrations_in_the_shared_folder(tmp_path):
    """Flask-Migrate keeps alembic.ini, env.py and versions/ in migrations/, where the
    converted .sql files and migrate.sum live too: only Alembic's files go."""
    project = Project(tmp_path / "app", "file:app.db")
    folder = project.migrations
    (folder / "versions").mkdir(parents=True)
    (folder / "alembic.ini").write_text("[alembic]\n\n[loggers]\nkeys = root\n")
    (folder / "env.py").write_text("from flask import current_app\n")
    (folder / "README").write_text("Single-database configuration for Flask.\n")
    (folder / "versions" / "f1_init.py").write_text('revision = "f1"\ndown_revision = None\n')
    project.write(
        "20240101000000_initial_schema.sql",
        "-- The schema of Alembic revision f1 (init), the head\n-- migrate:up\nSELECT 1;\n",
    )
    assert project.invoke("migrate.hash").code == 0
    run = project.invoke(
        "migrate.retire-alembic", "--config", "migrations/alembic.ini", "--backup", "old",
        LIBSQL_URL=None,
    )  # fmt: skip
    assert run.code == 0, run.out + run.err
    assert sorted(p.name for p in folder.iterdir()) == [
        "20240101000000_initial_schema.sql",
        "migrate.sum",
    ]
    backed = sorted(p.relative_to(tmp_path / "app" / "old" / "files").as_posix()
                    for p in (tmp_path / "app" / "old" / "files").rglob("*") if p.is_file())  # fmt: skip
    assert backed == [
        "migrations/README",
        "migrations/alembic.ini",
        "migrations/env.py",
        "migrations/versions/f1_init.py",
    ]
    assert project.invoke("migrate.validate").code == 0


def test_version_locations_outside_the_script_folder_are_retired_too(tmp_path):
    project = Project(tmp_path / "app", "file:app.db")
    ini = write_alembic_project(project.root, [("r1", None, "one", "", "")])
    shutil.move(project.root / "alembic" / "versions", project.root / "db_versions")
    ini.write_text(ini.read_text() + "version_locations = %(here)s/db_versions\n")
    project.write(
        "20240101000000_one.sql", "-- Alembic revision r1: one\n-- migrate:up\nSELECT 1;\n"
    )
    run = project.invoke("migrate.retire-alembic", "--backup", "old", LIBSQL_URL=None)
    assert run.code == 0, run.out + run.err
    assert not (project.root / "db_versions").exists()
    assert (project.root / "old" / "files" / "db_versions" / "r1_0.py").is_file()


# -- what counts as a reference ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "line", "kind"),
    [
        ("app.py", "from alembic import op", "import"),
        ("app.py", "from alembic.config import Config", "import"),
        ("app.py", "import os, alembic", "import"),
        ("app.py", "    import alembic.command as cmd", "import"),
        ("app.py", "from flask_migrate import Migrate", "import"),
        ("app.py", "subprocess.run(['alembic', '-c', 'x.ini', 'upgrade', 'head'])", "command"),
        ("app.py", "# Alembic built this table once", None),
        ("app.py", "TABLE = 'alembic_version'", None),
        ("app.py", "deps = ['alembic']", None),  # a plain module: only code references
        ("noxfile.py", "    session.install('alembic')", "mention"),
        ("run.sh", "alembic upgrade head", "command"),
        ("run.sh", "alembic -c prod.ini -x tenant=a upgrade +1", "command"),
        ("run.sh", "python3 -m alembic current", "command"),
        ("run.sh", "flask db upgrade", "command"),
        ("run.sh", "invoke migrate.import-alembic --per-revision", None),
        ("run.sh", "libsql-migrate retire-alembic --backup old", None),
        ("README.md", "Run `alembic downgrade -1` to undo.", "command"),
        ("README.md", "We moved off Alembic; alembic_version is gone.", None),
        ("README.md", "* Bump alembic from 1.13 to 1.14", None),
        ("README.md", "Settings live in alembic.ini", "config"),
        ("README.md", "see alembic/versions for the history", "folder"),
        ("README.md", "see old_alembic/ and alembic.txt", None),
        ("pyproject.toml", 'exclude = ["alembic"]', "mention"),
        ("requirements-dev.txt", "pytest-alembic==0.11", "mention"),
        ("docker-compose.yml", "    command: alembic upgrade head", "command"),
    ],
)
def test_what_counts_as_a_reference(tmp_path, filename, line, kind):
    path = tmp_path / filename
    path.write_text(f"first line\n{line}\n")
    scan = find_references(tmp_path, skip=[], config_names=["alembic.ini"], folders=["alembic"])
    assert [(r.line, r.kind) for r in scan.references] == ([(2, kind)] if kind else [])


def test_passwords_and_env_files_are_not_printed(tmp_path):
    (tmp_path / "deploy.sh").write_text(
        "alembic -x url=postgresql://app:s3cret-pass@db/app upgrade head\n"
    )
    (tmp_path / ".env").write_text(
        "SETUP='alembic -x url=postgresql://app:hunter22@db upgrade head'\n"
    )
    scan = find_references(tmp_path, skip=[], config_names=["alembic.ini"], folders=[])
    shown = {r.path.name: r.text for r in scan.references}
    assert shown == {
        ".env": "",
        "deploy.sh": "alembic -x url=postgresql://app:***@db/app upgrade head",
    }


def test_generated_and_third_party_folders_are_not_read(tmp_path):
    for folder in (".git", "node_modules/x", ".venv/lib", "build", "pkg.egg-info", "env"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "run.sh").write_text("alembic upgrade head\n")
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "uv.lock").write_text('name = "alembic"\n')
    (tmp_path / "kept.sh").write_text("alembic upgrade head\n")
    scan = find_references(tmp_path, skip=[], config_names=[], folders=[])
    assert [r.path.name for r in scan.references] == ["kept.sh"]


def test_references_are_read_from_the_top_of_the_work_tree(tmp_path):
    """alembic.ini in backend/, CI files at the repository's top (a common layout)."""
    project = Project(tmp_path / "repo" / "backend", "file:app.db")
    (tmp_path / "repo" / ".git").mkdir()
    workflow = tmp_path / "repo" / ".github" / "workflows" / "deploy.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("steps:\n  - run: cd backend && alembic upgrade head\n")
    write_alembic_project(project.root, [("r1", None, "one", "", "")])
    project.write(
        "20240101000000_one.sql", "-- Alembic revision r1: one\n-- migrate:up\nSELECT 1;\n"
    )
    run = project.invoke("migrate.retire-alembic", "--backup", "../old", LIBSQL_URL=None)
    assert run.code == 3
    assert listed(run) == {(".github/workflows/deploy.yml", 2, "command")}
    assert f"remains (paths from {(tmp_path / 'repo').resolve()}):" in run.out
    text = textwrap.dedent(run.out)
    assert "removed alembic.ini, alembic/" in text
