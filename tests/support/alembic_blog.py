"""The example blog's Alembic history (examples/blog) and small Alembic projects for tests.

Alembic runs in a subprocess: the project's env.py calls ``logging.config.fileConfig``,
which would disable the loggers of the test process itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from migrate_tasks.drivers import open_driver
from migrate_tasks.ops.schema import SchemaObject, read_schema

ROOT = Path(__file__).resolve().parents[2]
BLOG = ROOT / "examples" / "blog"
BLOG_INI = BLOG / "alembic.ini"
#: The example's revisions, oldest first: (Alembic revision, version import-alembic gives it).
BLOG_REVISIONS = [
    ("3f1c2a9d8b01", "20240110091403"),
    ("8a4e6b2c9d13", "20240112154051"),
    ("c5d7e9f1a2b4", "20240201110237"),
    ("1e2f3a4b5c6d", "20240215162509"),
    ("9b8a7c6d5e4f", "20240304105144"),
    ("4d5e6f7a8b9c", "20240402083012"),
    ("a1b2c3d4e5f6", "20240420140558"),
]
BLOG_HEAD, BLOG_HEAD_VERSION = BLOG_REVISIONS[-1]

_RUNNER = """
import sys, shutil
from alembic import command
from alembic.config import Config
ini, url, *steps = sys.argv[1:]
cfg = Config(ini)
cfg.set_main_option("sqlalchemy.url", url)
for step in steps:
    verb, _, arg = step.partition(":")
    if verb == "copy":
        shutil.copyfile(url.split("///", 1)[1], arg)
    else:
        getattr(command, verb)(cfg, arg)
"""


def alembic(ini: Path, url: str, *steps: str) -> None:
    """Run Alembic commands (``upgrade:head``, ``downgrade:-1``, ``copy:PATH`` to copy a
    SQLite file) against ``url``, a SQLAlchemy URL."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(ini), url, *steps],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def alembic_sqlite(ini: Path, path: Path, *steps: str) -> Path:
    alembic(ini, f"sqlite:///{path}", *steps)
    return path


def user_schema(url: str, token: str | None = None) -> list[SchemaObject]:
    """The normalised schema (names as stored) without our tracking tables or Alembic's."""
    driver = open_driver(url, token)
    try:
        objects = read_schema(driver, "schema_migrations")
    finally:
        driver.close()
    return [o for o in objects if "alembic_version" not in (o.name.lower(), o.table.lower())]


def copy_db(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


# -- small Alembic projects -------------------------------------------------------------------

ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config, pool
{prelude}

config = context.config


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    url = {url}
    connectable = engine_from_config(
        {{"sqlalchemy.url": url}}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"""

INI = """\
[alembic]
script_location = %(here)s/alembic
sqlalchemy.url = postgresql://app@localhost/app
"""


def write_alembic_project(
    root: Path,
    revisions: list[tuple[str, str | tuple[str, ...] | None, str, str, str]],
    *,
    url_expression: str = 'config.get_main_option("sqlalchemy.url")',
    env_prelude: str = "",
    preludes: dict[str, str] | None = None,
    dates: dict[str, str] | None = None,
) -> Path:
    """An Alembic project: ``revisions`` are (id, down_revision, message, upgrade body,
    downgrade body). ``url_expression``: what env.py connects to; ``env_prelude``: code
    at the top of env.py; ``preludes``: module-level code of a revision, by id;
    ``dates``: the Create Date line of a revision, by id. Returns alembic.ini."""
    versions = root / "alembic" / "versions"
    versions.mkdir(parents=True)
    env_py = ENV_PY.format(url=url_expression, prelude=textwrap.dedent(env_prelude))
    (root / "alembic" / "env.py").write_text(env_py)
    (root / "alembic" / "script.py.mako").write_text("")
    for index, (rev, down, message, up, down_body) in enumerate(revisions):
        date = (dates or {}).get(rev, f"Create Date: 2024-05-0{index + 1} 10:00:00")
        prelude = textwrap.dedent((preludes or {}).get(rev, ""))
        (versions / f"{rev}_{index}.py").write_text(
            f'"""{message}\n\nRevision ID: {rev}\n{date}\n"""\n'
            f"import sqlalchemy as sa\nfrom alembic import op\n{prelude}\n"
            f"revision = {rev!r}\ndown_revision = {down!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n{textwrap.indent(textwrap.dedent(up).strip() or 'pass', '    ')}\n\n\n"
            f"def downgrade():\n{textwrap.indent(textwrap.dedent(down_body).strip() or 'pass', '    ')}\n"
        )
    ini = root / "alembic.ini"
    ini.write_text(INI)
    return ini
